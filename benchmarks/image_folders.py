"""Image folders for benchmarking `image-classification` on data that is not 8x8 digits.

Two builders, both writing the layout `data.path` reads (one sub-folder per class, PNG
files) and both deterministic (the same arguments give byte-identical folders):

* `icon_folder`: REAL images. Desktop icons from Debian icon-theme packages, one class per
  freedesktop.org icon context (actions, apps, categories, devices, mimetypes, places,
  status), pooled over several themes so that a class is a meaning drawn in many styles
  and no theme stands for a class. Only the themes' own 48x48 PNG renderings are used
  (no resampling, no SVG), symbolic links are skipped, and icons whose pixels are
  identical (the same icon shipped by two themes, or under two names) are kept once, so
  no picture lands in two splits. Each class is capped by a seeded sample.
* `shapes_folder`: a small synthetic folder like a user's folder of a few hundred small
  grayscale pictures: 10 classes of shapes rendered with PIL at random position, scale,
  rotation, stroke, fill and contrast, with clutter and noise.
* `glyph_folder`: letters drawn in every TrueType font installed (Debian's fonts-dejavu
  and fonts-liberation), one class per letter: the same class in many real typefaces,
  serif and sans, bold and italic, at random size, position, angle and contrast.

The Debian packages `icon_folder` reads (listed in benchmarks/debian-packages.txt, needed
to build it on a fresh machine; about 170 MB installed):

    oxygen-icon-theme gnome-icon-theme mate-icon-theme elementary-xfce-icon-theme
    faenza-icon-theme

Usage:

    python benchmarks/image_folders.py icons /tmp/icons        # 7 classes, 48x48 RGB
    python benchmarks/image_folders.py shapes /tmp/shapes      # 10 x 60, 32x32 grayscale
    python benchmarks/image_folders.py glyphs /tmp/glyphs      # 10 letters x 60, 32x32
    suite run image-classification --set data.path=/tmp/icons --set data.image_size=48
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ICON_ROOT = Path("/usr/share/icons")

# theme folder under ICON_ROOT -> the Debian package that installs it
ICON_THEMES = {
    "oxygen": "oxygen-icon-theme",
    "gnome": "gnome-icon-theme",
    "mate": "mate-icon-theme",
    "elementary-xfce": "elementary-xfce-icon-theme",
    "Faenza": "faenza-icon-theme",
}

# icon context folder name (as the themes spell it) -> class name
ICON_CONTEXTS = {
    "actions": "actions", "apps": "apps", "categories": "categories", "devices": "devices",
    "mimetypes": "mimetypes", "mimes": "mimetypes", "places": "places", "status": "status",
}

SHAPES = ("circle", "square", "triangle", "pentagon", "star", "plus", "tee", "ring",
          "arrow", "crescent")


def icon_folder(dest: str | Path, *, size: int = 48, per_class: int = 400,
                min_per_class: int = 100, seed: int = 0, themes=tuple(ICON_THEMES),
                root: str | Path = ICON_ROOT) -> Path:
    """Builds a class-folder dataset of real desktop icons from installed icon themes.

    Every PNG of exactly `size` x `size` pixels under a theme's `size`x`size` (or `size`)
    folder of one of the `ICON_CONTEXTS` is read, its alpha composited onto white, and
    kept once per distinct picture (first by sorted theme and path). A context with fewer
    than `min_per_class` distinct icons is left out; larger ones are sampled down to
    `per_class` with `seed`. Files are written as `dest/<class>/<theme>-<name>.png`.

    Args:
        dest: the folder to create; it must not exist or be empty.
        size: the icon size to read, in pixels (the themes ship 16 to 256; 48 is in all).
        per_class: the most icons kept per class.
        min_per_class: classes with fewer distinct icons are left out.
        seed: the seed of the per-class sample.
        themes: theme folder names under `root` (keys of `ICON_THEMES`).
        root: where icon themes are installed.

    Returns:
        `dest`.

    Raises:
        FileNotFoundError: a theme is not installed (the message names its Debian package).
        ValueError: a bad argument, or fewer than two classes were found.
    """
    dest, root = Path(dest), Path(root)
    if size < 8:
        raise ValueError(f"icon_folder size: got {size!r}, expected an icon size >= 8 pixels")
    if not 1 <= min_per_class <= per_class:
        raise ValueError(f"icon_folder per_class/min_per_class: got {per_class!r}/"
                         f"{min_per_class!r}, expected 1 <= min_per_class <= per_class")
    _require_themes("icon_folder", themes, root)
    _prepare(dest)

    seen: set[str] = set()
    by_class: dict[str, list[tuple[str, Image.Image]]] = {}
    for theme in sorted(themes):
        for path in _theme_pngs(root / theme, size):
            context = next(ICON_CONTEXTS[p] for p in path.relative_to(root / theme).parts
                           if p in ICON_CONTEXTS)
            with Image.open(path) as image:
                if image.size != (size, size):
                    continue  # a theme's "48" folder holding another size
                rgb = _on_white(image)
            digest = hashlib.sha1(rgb.tobytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            by_class.setdefault(context, []).append((f"{theme}-{path.stem}", rgb))

    kept = {c: items for c, items in sorted(by_class.items()) if len(items) >= min_per_class}
    if len(kept) < 2:
        raise ValueError(f"icon_folder: only {len(kept)} context(s) have >= {min_per_class} "
                         f"distinct {size}x{size} icons in themes {', '.join(themes)}")
    rng = random.Random(seed)
    for name, items in kept.items():
        if len(items) > per_class:
            items = rng.sample(items, per_class)
        folder = dest / name
        folder.mkdir()
        used: set[str] = set()
        for stem, image in sorted(items, key=lambda item: item[0]):
            stem = _unique(stem, used)
            image.save(folder / f"{stem}.png", optimize=False)
    return dest


def shapes_folder(dest: str | Path, n_per_class: int = 60, size: int = 32, seed: int = 0,
                  *, grayscale: bool = True) -> Path:
    """Builds a synthetic class-folder dataset of 10 shapes drawn in many ways.

    Each image is one shape from `SHAPES`, shifted up to 10% of the side, scaled 28% to
    42% of the side (radius), turned up to 15 degrees, filled or outlined with a random
    stroke, dark on a light background (9 in 10) or light on dark, over a gradient with at
    most one clutter stroke, blurred a little and with Gaussian pixel noise. Drawn at 4x
    the size and downsampled, so edges are antialiased. Models of raw pixels learn it in
    part; a convolutional network, which is tolerant to the shifts, should do better.

    Args:
        dest: the folder to create; it must not exist or be empty.
        n_per_class: images per class.
        size: the side of the square images, in pixels.
        seed: the random seed; the same arguments give the same files.
        grayscale: write 8-bit grayscale PNGs (`L`) rather than RGB.

    Returns:
        `dest`.
    """
    dest = Path(dest)
    if n_per_class < 1:
        raise ValueError(f"shapes_folder n_per_class: got {n_per_class!r}, expected >= 1")
    if size < 12:
        raise ValueError(f"shapes_folder size: got {size!r}, expected >= 12 pixels")
    _prepare(dest)
    rng = np.random.default_rng(seed)
    for label, shape in enumerate(SHAPES):
        folder = dest / f"{label}_{shape}"
        folder.mkdir()
        for i in range(n_per_class):
            image = _render_shape(shape, size, rng, grayscale)
            image.save(folder / f"{shape}_{i:04d}.png", optimize=False)
    return dest


GLYPHS = "ABCDEFGHKR"
FONT_ROOT = Path("/usr/share/fonts")
FONT_PACKAGES = "fonts-dejavu-core fonts-liberation"


def glyph_folder(dest: str | Path, n_per_class: int = 60, size: int = 32, seed: int = 0, *,
                 letters: str = GLYPHS, root: str | Path = FONT_ROOT) -> Path:
    """Builds a class-folder dataset of letters drawn in the installed TrueType fonts.

    Each image is one letter of `letters` in a font drawn at random from every `.ttf`
    under `root` (sorted, so the draw is the same on the same machine), 45% to 80% of the
    side tall, shifted, turned up to 12 degrees, dark on light or light on dark, with
    Gaussian noise: 8-bit grayscale PNGs.

    Args:
        dest: the folder to create; it must not exist or be empty.
        n_per_class: images per letter.
        size: the side of the square images, in pixels.
        seed: the random seed; the same arguments and fonts give the same files.
        letters: the classes, one character each.
        root: where fonts are installed.

    Returns:
        `dest`.

    Raises:
        FileNotFoundError: if no TrueType font is installed, naming the Debian packages.
    """
    from PIL import ImageFont

    dest, root = Path(dest), Path(root)
    fonts = sorted(p for p in root.rglob("*.ttf") if not p.is_symlink())
    if not fonts:
        raise FileNotFoundError(f"glyph_folder: no TrueType fonts under {root}; install "
                                f"them with: apt-get install {FONT_PACKAGES}")
    _prepare(dest)
    rng = np.random.default_rng(seed)
    big = size * 4
    for label, letter in enumerate(letters):
        folder = dest / f"{label}_{letter}"
        folder.mkdir()
        for i in range(n_per_class):
            font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]),
                                      int(big * rng.uniform(0.45, 0.8)))
            light = rng.random() < 0.8
            back, ink = (rng.uniform(170, 250), rng.uniform(0, 80)) if light else \
                (rng.uniform(0, 80), rng.uniform(170, 250))
            image = Image.new("L", (big, big), int(back))
            draw = ImageDraw.Draw(image)
            x0, y0, x1, y1 = draw.textbbox((0, 0), letter, font=font)
            room_x, room_y = max(1, big - (x1 - x0)), max(1, big - (y1 - y0))
            at = (rng.uniform(0.2, 0.8) * room_x - x0, rng.uniform(0.2, 0.8) * room_y - y0)
            draw.text(at, letter, fill=int(ink), font=font)
            image = image.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR,
                                 fillcolor=int(back)).resize((size, size), Image.LANCZOS)
            noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(2, 10),
                                                               (size, size))
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "L").save(
                folder / f"{letter}_{i:04d}.png", optimize=False)
    return dest


def icon_scene_folder(dest: str | Path, count: int = 600, *, size: int = 128, seed: int = 0,
                      themes=tuple(ICON_THEMES), root: str | Path = ICON_ROOT) -> Path:
    """Builds an images/ + masks/ segmentation folder of REAL icons on busy backgrounds,
    with Oxford-IIIT Pets style trimaps (1 foreground, 2 background, 3 border).

    Each scene is a `size` x `size` RGB image: a background made of another icon, blown
    up and blurred (real colours and textures, no object outline left), with one 48x48
    icon from the themes pasted by its alpha channel, scaled to 35%-60% of the side at a
    random position. The mask marks the pasted icon's opaque pixels (alpha > 1/2) as
    foreground and a 2-pixel band around its outline as border, like the Pets trimaps.
    Every foreground icon is a distinct picture used once, so no icon is in two splits.

    Args:
        dest: the folder to create; it must not exist or be empty.
        count: how many scenes (at most the number of distinct icons found).
        size: the scenes' side in pixels.
        seed: the random seed; the same arguments give the same files.
        themes: theme folder names under `root` (keys of `ICON_THEMES`).
        root: where icon themes are installed.

    Returns:
        `dest`.
    """
    dest, root = Path(dest), Path(root)
    _require_themes("icon_scene_folder", themes, root)
    icons, seen = [], set()
    for theme in sorted(themes):
        for path in _theme_pngs(root / theme, 48):
            with Image.open(path) as image:
                if image.size != (48, 48):
                    continue
                rgba = image.convert("RGBA")
            alpha = np.asarray(rgba)[..., 3]
            if not 0.15 < np.mean(alpha > 127) < 0.9:
                continue  # no transparency to cut the icon out by, or almost nothing drawn
            digest = hashlib.sha1(rgba.tobytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                icons.append(rgba)
    if len(icons) < count + 1:
        raise ValueError(f"icon_scene_folder count: got {count}, but only {len(icons)} "
                         "distinct icons with transparency were found")
    _prepare(dest)
    (dest / "images").mkdir()
    (dest / "masks").mkdir()
    rng = random.Random(seed)
    order = list(range(len(icons)))
    rng.shuffle(order)
    foreground, backgrounds = order[:count], order[count:]
    for n, i in enumerate(foreground):
        back = icons[rng.choice(backgrounds)]
        box = rng.randint(8, 20)
        crop = back.crop((box, box, 48 - box + 8, 48 - box + 8)).convert("RGB")
        canvas = crop.resize((size, size), Image.BICUBIC).filter(
            ImageFilter.GaussianBlur(rng.uniform(2.0, 5.0)))
        side = rng.randint(int(0.35 * size), int(0.6 * size))
        icon = icons[i].resize((side, side), Image.BICUBIC)
        x, y = rng.randint(0, size - side), rng.randint(0, size - side)
        canvas.paste(icon, (x, y), icon)
        alpha = np.zeros((size, size), np.uint8)
        alpha[y:y + side, x:x + side] = np.asarray(icon)[..., 3]
        inside = Image.fromarray(np.where(alpha > 127, 255, 0).astype(np.uint8))
        band = (np.asarray(inside.filter(ImageFilter.MaxFilter(5)))
                != np.asarray(inside.filter(ImageFilter.MinFilter(5))))
        trimap = np.where(band, 3, np.where(np.asarray(inside) > 0, 1, 2)).astype(np.uint8)
        canvas.save(dest / "images" / f"scene_{n:04d}.jpg", quality=92)
        Image.fromarray(trimap).save(dest / "masks" / f"scene_{n:04d}.png")
    return dest


def _require_themes(caller: str, themes, root: Path) -> None:
    """Raises FileNotFoundError naming the Debian packages of themes not under `root`."""
    missing = [t for t in themes if not (root / t).is_dir()]
    if missing:
        packages = " ".join(ICON_THEMES.get(t, f"<the package of theme {t!r}>") for t in missing)
        raise FileNotFoundError(
            f"{caller}: icon theme(s) {', '.join(missing)} not installed under {root}; "
            f"install them with: apt-get install {packages}")


def _prepare(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} exists and is not empty; expected a new folder")
    dest.mkdir(parents=True, exist_ok=True)


def _theme_pngs(theme_dir: Path, size: int):
    """Regular PNG files of one theme under a `<size>x<size>` or `<size>` folder, sorted."""
    names = {f"{size}x{size}", str(size)}
    found = []
    for folder, dirs, files in os.walk(theme_dir, followlinks=False):
        dirs.sort()
        parts = Path(folder).relative_to(theme_dir).parts
        if not names.intersection(parts) or not any(p in ICON_CONTEXTS for p in parts):
            continue
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".png") and not path.is_symlink():
                found.append(path)
    return found


def _on_white(image: Image.Image) -> Image.Image:
    """RGB with any transparency composited onto white."""
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _unique(stem: str, used: set[str]) -> str:
    candidate, n = stem, 1
    while candidate in used:
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate)
    return candidate


def _shape_outline(shape: str, rng) -> list[list[tuple[float, float]]] | None:
    """The shape's polygon(s) in unit coordinates (radius about 1), or None for round ones."""
    def regular(n, phase=0.0, radius=1.0):
        return [(radius * math.cos(phase + 2 * math.pi * k / n),
                 radius * math.sin(phase + 2 * math.pi * k / n)) for k in range(n)]

    if shape == "square":
        return [regular(4, math.pi / 4)]
    if shape == "triangle":
        return [regular(3, -math.pi / 2)]
    if shape == "pentagon":
        return [regular(5, -math.pi / 2)]
    if shape == "star":
        outer, inner = regular(5, -math.pi / 2), regular(5, -math.pi / 2 + math.pi / 5, 0.42)
        return [[p for pair in zip(outer, inner) for p in pair]]
    if shape == "plus":
        w = rng.uniform(0.25, 0.4)
        return [[(-1, -w), (1, -w), (1, w), (-1, w)], [(-w, -1), (w, -1), (w, 1), (-w, 1)]]
    if shape == "tee":
        w = rng.uniform(0.25, 0.4)
        return [[(-1, -1), (1, -1), (1, -1 + 2 * w), (-1, -1 + 2 * w)],
                [(-w, -1), (w, -1), (w, 1), (-w, 1)]]
    if shape == "arrow":
        return [[(-1, -0.25), (0.2, -0.25), (0.2, -0.7), (1, 0), (0.2, 0.7), (0.2, 0.25),
                 (-1, 0.25)]]
    return None


def _render_shape(shape: str, size: int, rng, grayscale: bool) -> Image.Image:
    scale = 4
    big = size * scale
    # background: a gentle linear gradient, light (9 in 10 images) or dark
    light = rng.random() < 0.9
    level = rng.uniform(150, 235) if light else rng.uniform(20, 105)
    bg0, bg1 = level + rng.uniform(-20, 20, 3), level + rng.uniform(-20, 20, 3)
    t = np.linspace(0, 1, big)[:, None, None]
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (math.cos(angle) * t + math.sin(angle) * t.transpose(1, 0, 2)) / 2 + 0.5
    pixels = np.clip(bg0 * (1 - ramp) + bg1 * ramp, 0, 255)
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    # foreground contrasting with the background
    shade = rng.uniform(0, 90) if light else rng.uniform(170, 255)
    fg = tuple(int(np.clip(shade + d, 0, 255)) for d in rng.uniform(-30, 30, 3))
    # clutter: at most one thin stroke
    for _ in range(rng.integers(0, 2)):
        x0, y0, x1, y1 = rng.uniform(0, big, 4)
        tone = rng.uniform(0, 255)
        draw.line([(x0, y0), (x1, y1)], fill=(int(tone),) * 3, width=int(rng.integers(1, scale)))
    # the shape: radius 28%..42% of the side, shifted up to 10% of the side, turned up to
    # 15 degrees either way
    radius = rng.uniform(0.28, 0.42) * big
    cx, cy = np.clip(big / 2 + rng.uniform(-0.1, 0.1, 2) * big, radius, big - radius)
    rotation = rng.uniform(-math.pi / 12, math.pi / 12)
    filled = rng.random() < 0.5
    stroke = int(max(scale, rng.uniform(0.08, 0.16) * radius * 1.5))
    cos, sin = math.cos(rotation), math.sin(rotation)

    def place(points):
        return [(cx + radius * (x * cos - y * sin), cy + radius * (x * sin + y * cos))
                for x, y in points]

    polygons = _shape_outline(shape, rng)
    if polygons is not None:
        for polygon in polygons:
            if filled:
                draw.polygon(place(polygon), fill=fg)
            else:
                draw.line(place(polygon + polygon[:1]), fill=fg, width=stroke, joint="curve")
    else:
        box = [cx - radius, cy - radius, cx + radius, cy + radius]
        if shape == "circle":
            if filled:
                draw.ellipse(box, fill=fg)
            else:
                draw.ellipse(box, outline=fg, width=stroke)
        elif shape == "ring":  # always a thick ring, so it differs from an outlined circle
            draw.ellipse(box, outline=fg, width=max(stroke * 2, int(radius * 0.35)))
        else:  # crescent: a disc with an offset disc cut out in the local background colour
            dx, dy = place([(0.55, 0.0)])[0]
            bg = image.getpixel((int(np.clip(dx, 0, big - 1)), int(np.clip(dy, 0, big - 1))))
            draw.ellipse(box, fill=fg)
            cut = radius * 0.9
            draw.ellipse([dx - cut, dy - cut, dx + cut, dy + cut], fill=bg)
    image = image.resize((size, size), Image.LANCZOS)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.6)))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(3, 12), (size, size, 3))
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    return image.convert("L") if grayscale else image


def _describe(root: Path) -> str:
    counts = {d.name: sum(1 for _ in d.glob("*.png")) for d in sorted(root.iterdir())}
    return f"{sum(counts.values())} images: " + ", ".join(f"{k} {v}" for k, v in counts.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    icons = sub.add_parser("icons", help="real desktop icons from Debian icon themes")
    icons.add_argument("dest", type=Path)
    icons.add_argument("--size", type=int, default=48)
    icons.add_argument("--per-class", type=int, default=400)
    icons.add_argument("--min-per-class", type=int, default=100)
    icons.add_argument("--seed", type=int, default=0)
    shapes = sub.add_parser("shapes", help="synthetic shapes, 32x32 grayscale")
    shapes.add_argument("dest", type=Path)
    shapes.add_argument("--per-class", type=int, default=60)
    shapes.add_argument("--size", type=int, default=32)
    shapes.add_argument("--seed", type=int, default=0)
    shapes.add_argument("--rgb", action="store_true", help="write RGB instead of grayscale")
    glyphs = sub.add_parser("glyphs", help="letters in the installed fonts, 32x32 grayscale")
    glyphs.add_argument("dest", type=Path)
    glyphs.add_argument("--per-class", type=int, default=60)
    glyphs.add_argument("--size", type=int, default=32)
    glyphs.add_argument("--seed", type=int, default=0)
    scenes = sub.add_parser("icon-scenes", help="icons on busy backgrounds, with trimaps "
                                                "(images/ + masks/, for image-segmentation)")
    scenes.add_argument("dest", type=Path)
    scenes.add_argument("--count", type=int, default=600)
    scenes.add_argument("--size", type=int, default=128)
    scenes.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing dest")
    args = parser.parse_args(argv)
    if args.force and args.dest.exists():
        shutil.rmtree(args.dest)
    try:
        if args.kind == "icon-scenes":
            root = icon_scene_folder(args.dest, args.count, size=args.size, seed=args.seed)
            print(f"{root}: {args.count} scenes in images/ with trimaps in masks/")
            return 0
        if args.kind == "icons":
            root = icon_folder(args.dest, size=args.size, per_class=args.per_class,
                               min_per_class=args.min_per_class, seed=args.seed)
        elif args.kind == "glyphs":
            root = glyph_folder(args.dest, args.per_class, args.size, args.seed)
        else:
            root = shapes_folder(args.dest, args.per_class, args.size, args.seed,
                                 grayscale=not args.rgb)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"image_folders: {e}", file=sys.stderr)
        return 2
    print(f"{root}: {_describe(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
