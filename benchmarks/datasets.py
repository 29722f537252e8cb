"""Every pipeline's default config on every data set registered for it, in one table.

    python benchmarks/datasets.py <pipeline>|all [--only NAME[,NAME]] [--set key=value ...]
                                  [--results FILE] [--cache DIR]

For each data set: the embedded one and every real-format set a builder makes from what
Debian and PyPI packages install (`image_folders.py`, `text_folders.py`,
`speech_folders.py`, `series_files.py`, and the small builders below). A builder is
deterministic: the same machine gives the same files. Its folder is built once into
`--cache` (default `~/.cache/suite-benchmarks`) and reused; the build time is reported
apart from the run.

Each data set then runs `suite run <pipeline>` with the default config (and `--set`) in a
fresh working directory with its own MLflow store, in a child process. The table per
pipeline gives, per data set: its size, the model's main test metric and every
baseline's, the strongest baseline, win or loss and by how much, the model's training
time and the whole run's time.

With no `--only` and no `--set`, the tables replace each pipeline's measured block in
`docs/results.md` (the block they replace moves to that pipeline's history there), with
the date, the CPU and the commit; `--results FILE` writes there whatever the options.

What the builders need is declared: Debian packages in `benchmarks/debian-packages.txt`,
Python packages in the `bench` extra (`pip install -e ".[bench]"`). A data set whose
packages are missing is reported as skipped, with the packages to install.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import series_files

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = ROOT / "docs" / "results.md"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
    "suite-benchmarks"


@dataclasses.dataclass(frozen=True)
class DataSet:
    """One data set of one pipeline's table.

    Args:
        pipeline: the pipeline's CLI name.
        name: short and unique within the pipeline (`--only` takes it).
        description: what it is, for the table's legend.
        build: `folder -> list of --set overrides`: writes the data set under `folder`
            (which does not exist yet) and returns the keys that point the pipeline at it
            (`data.path=...`, and what a user would set to read it, such as a CSV's
            frequency). None for an embedded data set.
        overrides: keys of an embedded variant (`data.dataset=sunspots`).
        needs: the Debian packages (`deb:NAME`) or Python modules (`py:NAME`) the builder
            reads.
        role: `choose` (defaults are chosen on it) or `check` (kept aside to check them).
    """

    pipeline: str
    name: str
    description: str
    build: Callable[[Path], list[str]] | None = None
    overrides: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    role: str = "choose"

    @property
    def embedded(self) -> bool:
        return self.build is None


# --- builders --------------------------------------------------------------------------

def _image_folder(make, **kwargs):
    def build(folder: Path) -> list[str]:
        import image_folders

        getattr(image_folders, make)(folder, **kwargs)
        return [f"data.path={folder}"]
    return build


def _icon_scenes(folder: Path) -> list[str]:
    import image_folders

    image_folders.icon_scene_folder(folder)
    return [f"data.path={folder}", "data.mask_format=trimap"]


def _text_folder(make):
    def build(folder: Path) -> list[str]:
        import text_folders

        getattr(text_folders, make)(folder)
        return [f"data.path={folder}"]
    return build


def _flite_folder(folder: Path) -> list[str]:
    import speech_folders

    speech_folders.flite_folder(folder, utterances=5000)
    return [f"data.path={folder}"]


def _series_file(name: str):
    def build(folder: Path) -> list[str]:
        import series_files

        path = series_files.write_csv(name, folder / f"{name}.csv")
        return [f"data.path={path}", *series_files.overrides(name)]
    return build


def _gettext_tsv(lang: str):
    """A `source<TAB>target` file of one language's gettext catalogs, as a user's export
    from a translation memory would be."""
    def build(folder: Path) -> list[str]:
        from pipelines.translation import data
        from suite.data.validation import Skipped

        pairs = data.read_catalogs("/usr/share/locale", lang, Skipped("skip"))
        folder.mkdir(parents=True)
        path = folder / f"en-{lang}.tsv"
        with path.open("w", encoding="utf-8") as f:
            for source, target in pairs:
                if "\t" not in source + target and "\n" not in source + target:
                    f.write(f"{source}\t{target}\n")
        return [f"data.path={path}"]
    return build


ICONS = tuple(f"deb:{p}" for p in ("oxygen-icon-theme", "gnome-icon-theme", "mate-icon-theme",
                                   "elementary-xfce-icon-theme", "faenza-icon-theme"))

DATASETS: list[DataSet] = [
    # image classification
    DataSet("image-classification", "digits", "scikit-learn's 8x8 digits (embedded)"),
    DataSet("image-classification", "shapes", "600 synthetic 32x32 grey shapes, 10 classes",
            _image_folder("shapes_folder")),
    DataSet("image-classification", "icons", "real 48x48 desktop icons of 5 Debian themes, "
            "7 icon contexts", _image_folder("icon_folder"), needs=ICONS),
    DataSet("image-classification", "glyphs", "600 letters in the installed TrueType fonts, "
            "10 classes, 32x32 grey", _image_folder("glyph_folder"),
            needs=("deb:fonts-dejavu-core", "deb:fonts-liberation"), role="check"),
    # image segmentation
    DataSet("image-segmentation", "digit-scenes", "scenes composed from digits with their "
            "pixel masks (embedded)"),
    DataSet("image-segmentation", "icon-scenes", "600 real icons pasted on blurred icon "
            "backgrounds, 128x128 JPEG, trimaps", _icon_scenes, needs=ICONS, role="check"),
    # speech to text
    DataSet("speech-to-text", "espeak", "espeak-ng speaking fortunes sentences; test on "
            "unseen voice variants (embedded)"),
    DataSet("speech-to-text", "flite-ljspeech", "LJSpeech folder: 5,000 docstring "
            "sentences spoken by 5 flite voices, 22,050 Hz", _flite_folder,
            needs=("deb:flite",), role="check"),
    # translation
    DataSet("translation", "gettext-es", "English -> Spanish UI messages of the installed "
            "gettext catalogs (embedded)"),
    DataSet("translation", "gettext-fr", "English -> French gettext catalogs (embedded, "
            "another language)", overrides=("data.target_lang=fr",)),
    DataSet("translation", "tsv-de", "English -> German pairs exported to a TSV file",
            _gettext_tsv("de"), role="check"),
    # forecasting
    DataSet("forecasting", "co2", "weekly Mauna Loa CO2, statsmodels (embedded)"),
    DataSet("forecasting", "sunspots", "yearly sunspots, statsmodels (embedded)",
            overrides=("data.dataset=sunspots",)),
    *(DataSet("forecasting", name, f"{about} (CSV)", _series_file(name),
              needs=("py:pmdarima",) if source == "pmdarima" else (),
              role="check" if name == "wineind" else "choose")
      for name, (source, _, _, _, about) in series_files.SERIES.items()),
    # document retrieval
    DataSet("document-retrieval", "fortunes", "Debian's fortune cookies, one label per "
            "file (embedded)"),
    DataSet("document-retrieval", "docstrings", "standard-library docstrings, one label "
            "per package", _text_folder("docstring_folder")),
    DataSet("document-retrieval", "man-pages", "installed English manual pages, one label "
            "per section", _text_folder("man_page_folder"),
            needs=("deb:manpages", "deb:manpages-dev"), role="check"),
]


def registered(pipeline: str) -> list[DataSet]:
    """The data sets of `pipeline`, in table order."""
    return [d for d in DATASETS if d.pipeline == pipeline]


def missing_needs(dataset: DataSet) -> list[str]:
    """What the builder needs that is not installed: Debian packages and Python modules."""
    import importlib.util

    missing = []
    for need in dataset.needs:
        kind, _, name = need.partition(":")
        if kind == "deb":
            found = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name],
                                   capture_output=True, text=True, check=False)
            if "install ok installed" not in found.stdout:
                missing.append(f"apt-get install {name}")
        elif importlib.util.find_spec(name) is None:
            missing.append(f"pip install -e '.[bench]' ({name})")
    return missing


# --- one data set, in a child process ----------------------------------------------------

def run_one(pipeline: str, overrides: list[str], out: Path) -> None:
    """Runs the pipeline in the working directory and writes what the table needs."""
    from common import timed_run

    from suite import registry

    cls = registry.get(pipeline)
    result, instance, fit_s, total_s = timed_run(cls, overrides)
    info = instance.splits.info
    c = result.comparison
    out.write_text(json.dumps({
        "sizes": info.sizes, "classes": len(info.classes), "inputs_skipped": len(info.skipped),
        "metric": c.metric, "higher_is_better": c.higher_is_better, "value": c.value,
        "baselines": c.scores, "strongest": c.strongest, "margin": c.margin,
        "beaten_by": list(c.beaten_by), "verdict": c.verdict(), "fit_seconds": fit_s,
        "run_seconds": total_s, "epochs": len(instance.epochs),
        "tracking_errors": result.tracking_errors,
    }, default=float))


def measure(dataset: DataSet, cache: Path, extra: list[str]) -> dict:
    """Builds (or reuses) the data set and runs it in a fresh working directory."""
    row = {"name": dataset.name, "role": dataset.role, "description": dataset.description}
    missing = missing_needs(dataset)
    if missing:
        return {**row, "skipped": "needs " + "; ".join(missing)}
    overrides = list(dataset.overrides)
    if dataset.build is not None:
        folder = cache / dataset.pipeline / dataset.name
        done = folder.with_name(folder.name + ".json")
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            start = time.perf_counter()
            try:
                built = dataset.build(folder)
            except Exception as e:  # a builder's failure is this row's result
                shutil.rmtree(folder, ignore_errors=True)
                return {**row, "skipped": f"the builder failed: {type(e).__name__}: {e}"}
            done.write_text(json.dumps({"overrides": built,
                                        "build_seconds": time.perf_counter() - start}))
        recorded = json.loads(done.read_text())
        overrides += recorded["overrides"]
        row["build_seconds"] = recorded["build_seconds"]
    overrides += extra
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{dataset.pipeline}-{dataset.name}-"))
    out = workdir / "result.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/mlflow.db"}
    command = [sys.executable, str(Path(__file__).resolve()), "--one", dataset.pipeline,
               "--out", str(out), *(a for o in overrides for a in ("--set", o))]
    print(f"\n=== {dataset.pipeline} on {dataset.name} in {workdir}", file=sys.stderr,
          flush=True)
    log = workdir / "run.log"
    with log.open("w") as f:
        code = subprocess.run(command, cwd=workdir, env=env, stdout=f, stderr=subprocess.STDOUT,
                              check=False).returncode
    if code != 0 or not out.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        return {**row, "failed": f"exit {code}: " + " | ".join(tail), "log": str(log)}
    return {**row, **json.loads(out.read_text()), "workdir": str(workdir)}


# --- the table --------------------------------------------------------------------------

def table(pipeline: str, rows: list[dict]) -> str:
    """A Markdown table: one row per data set, the model beside every baseline."""
    from suite import registry

    cls = registry.get(pipeline)
    names = [b.name for b in cls().baselines()]
    metric = f"test_{cls.main_metric}"
    direction = "higher" if cls.higher_is_better else "lower"
    header = ["data set", "size (train/val/test)", f"model {metric}",
              *(f"{n}" for n in names), "strongest", "result", "training", "run"]
    lines = [f"Main metric `{metric}` ({direction} is better); the baselines' columns hold "
             "the same metric.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        label = r["name"] + (" (kept aside)" if r["role"] == "check" else "")
        if "skipped" in r or "failed" in r:
            why = r.get("skipped") or f"failed: {r['failed']}"
            lines.append("| " + " | ".join([label, why.replace("|", "/"),
                                            *[""] * (len(header) - 2)]) + " |")
            continue
        sizes = "/".join(str(r["sizes"].get(k, "-")) for k in ("train", "val", "test"))
        lines.append("| " + " | ".join([
            label, sizes, _number(r["value"]),
            *(_number(r["baselines"].get(n)) for n in names),
            r["strongest"] or "-", r["verdict"],
            f"{r['fit_seconds'] / 60:.1f} min", f"{r['run_seconds'] / 60:.1f} min"]) + " |")
    lines.append("")
    lines += [f"- **{r['name']}**: {r['description']}" for r in rows]
    wins = [r for r in rows if "verdict" in r]
    beaten = [r["name"] for r in wins if r["beaten_by"]]
    lines += ["", f"The model beats every baseline on {len(wins) - len(beaten)} of "
              f"{len(wins)} data sets" + (f"; beaten on {', '.join(beaten)}." if beaten
                                          else ".")]
    return "\n".join(lines)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def header_line(pipeline: str, extra: list[str], only=()) -> str:
    """Date, CPU, cores and commit of a measurement."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.strip()
    return (f"Measured {datetime.date.today():%Y-%m-%d} on {cpu_model()} "
            f"({os.cpu_count()} cores), commit {commit or 'unknown'}"
            + (" with local changes" if dirty else "") + ": `python benchmarks/datasets.py "
            + " ".join([pipeline, *([f"--only {','.join(sorted(only))}"] if only else []),
                        *(f"--set {o}" for o in extra)]) + "`.")


def cpu_model() -> str:
    """The CPU's model name, and whether it has AVX-512 (it changes the timings)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                  if line.startswith("model name")), platform.machine())
    return model + (" with AVX-512" if " avx512f" in info else "")


def write_results(path: Path, pipeline: str, block: str) -> None:
    """Replaces `pipeline`'s measured block in `path` (made if missing); the block it
    replaces moves to the top of that pipeline's history block."""
    begin, end = f"<!-- datasets:{pipeline} -->", f"<!-- /datasets:{pipeline} -->"
    hbegin, hend = f"<!-- history:{pipeline} -->", f"<!-- /history:{pipeline} -->"
    text = path.read_text() if path.is_file() else "# Results\n"
    found = re.search(re.escape(begin) + r"\n(.*?)" + re.escape(end), text, re.S)
    history = re.search(re.escape(hbegin) + r"\n(.*?)" + re.escape(hend), text, re.S)
    old = found.group(1).strip() if found else ""
    kept = history.group(1).strip() if history else ""
    measured = old if old.startswith("Measured ") else ""  # not a placeholder
    past = "\n\n".join(p for p in (_as_history(measured), kept) if p)
    section = (f"{begin}\n{block}\n{end}\n\n<details><summary>Earlier measurements"
               f"</summary>\n\n{hbegin}\n{past}\n{hend}\n\n</details>")
    if found:
        start = found.start()
        stop = history.end() if history else found.end()
        if history and "</details>" in text[stop:stop + 20]:
            stop = text.index("</details>", stop) + len("</details>")
        text = text[:start] + section + text[stop:]
    else:
        text = text.rstrip() + f"\n\n## {pipeline}\n\n{section}\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _as_history(block: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in block.splitlines()) if block else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", nargs="?", help="a pipeline name, or all")
    parser.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]",
                        help="run only these data sets (repeatable)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="a config override for every data set")
    parser.add_argument("--results", type=Path, help="write the tables here (default: "
                        "docs/results.md, only for a run of every set on the defaults)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"where built data sets are kept (default {DEFAULT_CACHE})")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path[:0] = [str(HERE), str(ROOT)]
    if args.one:
        run_one(args.one, args.overrides, args.out)
        return 0
    if not args.pipeline:
        parser.error("expected a pipeline name, or all")

    from suite.cli import _import_tensorflow_quietly

    _import_tensorflow_quietly()  # its start-up notices are not the table's
    from suite import registry

    pipelines = registry.names() if args.pipeline == "all" else [registry.get(args.pipeline).name]
    only = {n.strip() for spec in args.only for n in spec.split(",") if n.strip()}
    known = {d.name for p in pipelines for d in registered(p)}
    if only - known:
        parser.error(f"--only: unknown data set(s) {', '.join(sorted(only - known))}; "
                     f"known: {', '.join(sorted(known))}")
    results = args.results or (RESULTS if not only and not args.overrides else None)
    for pipeline in pipelines:
        sets = [d for d in registered(pipeline) if not only or d.name in only]
        if not sets:
            continue
        rows = [measure(d, args.cache, args.overrides) for d in sets]
        block = header_line(pipeline, args.overrides, only) + "\n\n" + table(pipeline, rows)
        print(f"\n## {pipeline}\n\n{block}", flush=True)
        if results is not None:
            write_results(results, pipeline, block)
            print(f"\n(written to {results})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
