"""Runs every pipeline's tiny config on the GPU, if there is one, and says what engaged.

For each registered pipeline it runs the tiny config of its end-to-end test
(`tests/tiny.py`) in-process with `trainer.jit_compile=true` and
`trainer.mixed_precision=auto` (float16 on a GPU), and prints:

* where the model's variables live and the GPU memory the run used at its peak (more
  than zero: the training ops ran there);
* whether XLA engaged (the compiled model's `jit_compile`) and the compute and variable
  dtypes of its layers (float16 compute with float32 variables: mixed precision);
* the training throughput (examples/s, first epoch excluded) and the run's exit state,
  with the export it wrote.

Without a GPU it says so and runs on the CPU (mixed means bfloat16 or float32 there),
which checks the script itself.

    python benchmarks/gpu_check.py [--pipeline NAME ...] [--epochs 3]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

from common import EpochTimer, isolate  # noqa: I001  (sets the environment first)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' tiny configs

import tensorflow as tf  # noqa: E402

from suite import registry  # noqa: E402
from suite.config import load_config  # noqa: E402
from tests.tiny import tiny_run_args  # noqa: E402


def overrides_of(args: list[str]) -> tuple[list[str], str | None]:
    """The `--set` values and the `--data` path of a `suite run` argument list."""
    sets, data = [], None
    for flag, value in zip(args[::2], args[1::2]):
        if flag == "--set":
            sets.append(value)
        elif flag == "--data":
            data = value
    return sets, data


def check(name: str, workdir: Path, epochs: int, gpu: bool) -> dict:
    cls = registry.get(name)
    sets, data = overrides_of(tiny_run_args(name, workdir))
    sets += [f"trainer.epochs={epochs}", "trainer.early_stopping_patience=0",
             "trainer.jit_compile=true", "trainer.mixed_precision=auto",
             "eval.baselines=none", "export.register=false"]
    if data:
        sets.append(f"data.path={data}")
    pipeline = cls(load_config(cls.config_cls, overrides=sets))
    seen, timer = {}, EpochTimer()
    fit, train = pipeline.fit, pipeline.trainer.fit

    def timed_train(model, *args, callbacks=(), **kwargs):
        return train(model, *args, callbacks=[*callbacks, timer], **kwargs)

    def capture(*args, **kwargs):
        model, restored = fit(*args, **kwargs)
        seen["model"] = model
        return model, restored

    pipeline.fit, pipeline.trainer.fit = capture, timed_train
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    start = time.perf_counter()
    result = pipeline.run()
    model = seen["model"]
    dtypes = collections.Counter(f"{layer.compute_dtype}/{layer.variable_dtype}"
                                 for layer in model._flatten_layers(include_self=False)
                                 if layer.weights)
    examples = int(pipeline.splits.train.cardinality())
    return {
        "device": model.weights[0].value.device or "(default)",
        "peak_mb": (tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
                    if gpu else 0.0),
        "xla": bool(model.jit_compile),
        "dtypes": ", ".join(f"{k} x{v}" for k, v in dtypes.most_common()),
        "rate": timer.rate(examples),
        "seconds": time.perf_counter() - start,
        "export": result.export_dir,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", action="append", default=[])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(isolate("gpu-check"))
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        print(f"GPU: {details.get('device_name', gpus[0].name)} (compute capability "
              f"{details.get('compute_capability')}); TensorFlow {tf.__version__}, "
              f"built with CUDA: {tf.test.is_built_with_cuda()}")
    else:
        print(f"no GPU: running on the CPU (TensorFlow {tf.__version__}); the figures below "
              "check this script, not a GPU")
    failed = 0
    for name in args.pipeline or registry.names():
        try:
            r = check(name, workdir / name, args.epochs, bool(gpus))
        except Exception as e:
            failed += 1
            print(f"\n{name}: FAILED: {type(e).__name__}: {str(e)[:500]}", flush=True)
            continue
        print(f"\n{name}: variables on {r['device']}; peak GPU memory {r['peak_mb']:.0f} MB; "
              f"XLA {'on' if r['xla'] else 'off'}; layer dtypes (compute/variables) "
              f"{r['dtypes']}\n  training {r['rate']:.0f} examples/s; whole run "
              f"{r['seconds']:.0f}s; exported {r['export']}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
