"""Image segmentation on composed digit scenes and on a real images/ + masks/ folder: the
U-Net against its no-skip ablation and the per-pixel majority, with training throughput
and the exported model's latency.

Runs the default `suite run image-segmentation` (in a temporary directory with its own
MLflow store) and prints, for the U-Net and each baseline, test mean IoU, pixel accuracy
and Dice, the U-Net's and the ablation's training time and throughput, and the export's
inference latency per image at batch 1 and batch 32 (PNG bytes in, class map out, through
`serving_default`). Then the same default config on folders given with `--data` (as a
user would; trimaps with `--trimap`), by default a folder of real desktop icons pasted on
busy backgrounds with Pets-style trimaps (`image_folders.icon_scene_folder`, built from
the Debian icon themes in `benchmarks/debian-packages.txt`).

    python benchmarks/image_segmentation.py [--data DIR [--trimap]] [--skip-scenes]
                                            [--set key=value ...]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

from common import isolate, timed_run  # noqa: I001  (sets the environment first)
import image_folders  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from pipelines.image_segmentation.pipeline import ImageSegmentationPipeline  # noqa: E402

ROWS = (("U-Net (suite)", "test"), ("no skips (ablation)", "baseline_no_skip"),
        ("per-pixel majority", "baseline_majority"))


def quality_table(title: str, overrides) -> tuple[dict, ImageSegmentationPipeline]:
    """Runs the pipeline; prints the model and its baselines side by side."""
    result, pipeline, fit_s, total_s = timed_run(ImageSegmentationPipeline, overrides)
    m, info = result.metrics, pipeline.splits.info
    train = info.sizes["train"]
    print(f"\n{title}: {len(info.classes)} classes, train {train}, val {info.sizes['val']}, "
          f"test {info.sizes['test']}, input {'x'.join(map(str, info.state.shape))}, "
          f"precision policy {pipeline.trainer.dtype_policy()}")
    print(f"{'model':<22}{'mean IoU':>10}{'pixel acc.':>12}{'Dice':>8}")
    for label, key in ROWS:
        if f"{key}_mean_iou" in m:
            print(f"{label:<22}{m[f'{key}_mean_iou']:>10.4f}{m[f'{key}_pixel_accuracy']:>12.4f}"
                  f"{m[f'{key}_dice']:>8.4f}")
    epochs = len(pipeline.epochs)
    print(f"U-Net training: {fit_s:.0f}s wall for {epochs} epochs ({pipeline.model_parameters:,}"
          f" parameters), {train * epochs / fit_s:.0f} images/s; best val_mean_iou "
          f"{max(pipeline.history['val_mean_iou']):.3f}; whole run {total_s:.0f}s (the "
          f"ablation's training and prediction: {result.baseline_seconds.get('no_skip', 0):.0f}"
          f"s) on {os.cpu_count()} CPU cores")
    cpu = pipeline.fit_cpu_seconds
    print(f"U-Net training CPU time: {cpu:.0f} CPU seconds, {cpu / os.cpu_count():.0f}s on "
          f"{os.cpu_count()} fully used cores ({train * epochs * os.cpu_count() / cpu:.0f} "
          "images/s)")
    return m, pipeline, result


def latency(export_dir, pipeline: ImageSegmentationPipeline, repeats: int = 20) -> None:
    """Median wall time per image of `serving_default` on PNG bytes, batch 1 and 32."""
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    pixels, _ = pipeline.splits.arrays("test")
    encoded = []
    for p in pixels[:32]:
        out = io.BytesIO()
        array = np.round(p * 255).astype(np.uint8)
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(out, "PNG")
        encoded.append(out.getvalue())
    for batch in (1, 32):
        feed = tf.constant((encoded * 32)[:batch])
        serve(images=feed)  # warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            serve(images=feed)
            times.append(time.perf_counter() - start)
        per_image = statistics.median(times) / batch
        print(f"export latency, batch {batch:>2}: {1000 * per_image:.1f} ms per image "
              f"({1 / per_image:.0f} images/s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", default=None,
                        help="an images/ + masks/ folder (default: icon scenes with trimaps)")
    parser.add_argument("--trimap", action="store_true", help="--data masks are trimaps")
    parser.add_argument("--skip-scenes", action="store_true")
    parser.add_argument("--skip-folders", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    workdir = isolate("image-segmentation")
    if not args.skip_scenes:
        _, pipeline, result = quality_table("composed digit scenes (default config)", args.set)
        latency(result.export_dir, pipeline)
    if args.skip_folders:
        return 0
    folders, trimap = args.data, args.trimap
    if folders is None:
        try:
            folders = [str(image_folders.icon_scene_folder(f"{workdir}/icon-scenes"))]
            trimap = True
        except FileNotFoundError as e:
            print(f"\nskipping the icon-scene folder: {e}", file=sys.stderr)
            return 0
    for folder in folders:
        overrides = [f"data.path={folder}", *(["data.mask_format=trimap"] if trimap else []),
                     *args.set]
        _, pipeline, result = quality_table(f"folder {folder} (default config)", overrides)
        latency(result.export_dir, pipeline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
