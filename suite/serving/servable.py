"""One loaded version of one model: its signatures, checked inputs and a predict call."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from suite.serving.errors import ServingError, invalid

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"


class Servable:
    """A SavedModel version loaded for serving, from its directory alone.

    Args:
        name: the model's name (its directory under the model root).
        version: the version number (the version directory's name).
        path: the version directory, holding `saved_model.pb`.

    Raises:
        ServingError: FAILED_PRECONDITION if the SavedModel cannot be read or loaded,
            naming the directory and TensorFlow's reason.
    """

    def __init__(self, name: str, version: int, path: str | Path):
        import tensorflow as tf

        self.name, self.version, self.path = name, version, Path(path)
        try:
            self.signature_defs = _signature_defs(self.path)
            loaded = tf.saved_model.load(str(self.path))
        except Exception as e:  # a broken export of any kind must not stop the server
            raise ServingError("FAILED_PRECONDITION",
                               f"cannot load {str(self.path)!r}: {type(e).__name__}: "
                               f"{_reason(str(e))}") from None
        self._loaded = loaded
        self.functions = dict(loaded.signatures)
        self.inputs = {key: fn.structured_input_signature[1]
                       for key, fn in self.functions.items()}
        self.outputs = {key: set(fn.structured_outputs) for key, fn in self.functions.items()}
        self._calls = {key: _direct_call(fn) for key, fn in self.functions.items()}
        self._batchers: dict = {}

    def signature(self, name: str) -> str:
        """The signature key a request names ("" means `serving_default`).

        Raises:
            ServingError: INVALID_ARGUMENT naming the signatures the model has.
        """
        key = name or DEFAULT_SIGNATURE
        if key not in self.functions:
            raise invalid(f'Serving signature name: "{key}" not found in signature def; '
                          f"model {self.name} version {self.version} has "
                          f"{', '.join(sorted(self.functions))}")
        return key

    def check(self, signature: str, feeds: dict[str, np.ndarray]) -> None:
        """Checks that `feeds` are the signature's inputs with compatible shapes.

        Raises:
            ServingError: INVALID_ARGUMENT naming the missing, unknown or misshapen input
                and what the signature expects.
        """
        specs = self.inputs[signature]
        missing = sorted(set(specs) - set(feeds))
        extra = sorted(set(feeds) - set(specs))
        if missing or extra:
            raise invalid(
                (f"missing input(s) {', '.join(missing)}" if missing else
                 f"input tensor alias(es) not found in signature: {', '.join(extra)}")
                + f"; signature {signature!r} takes {', '.join(sorted(specs))}")
        for name, array in feeds.items():
            expected = specs[name].shape
            if not expected.is_compatible_with(array.shape):
                want = [-1 if d is None else d for d in expected.as_list()]
                raise invalid(f"input {name!r}: shape {list(array.shape)} does not match the "
                              f"signature's {want} (-1: any size)")

    def predict(self, signature: str, feeds: dict[str, np.ndarray],
                output_filter=()) -> dict[str, np.ndarray]:
        """Runs one signature on checked input arrays.

        Args:
            signature: a key from `signature()`.
            feeds: arrays by input name, of the inputs' dtypes (see `check`).
            output_filter: output names to return (all when empty).

        Raises:
            ServingError: INVALID_ARGUMENT for an unknown output name or when the model
                rejects the values (an undecodable image, ...); INTERNAL for any other
                failure inside the model.
        """
        unknown = sorted(set(output_filter) - self.outputs[signature])
        if unknown:
            raise invalid(f"output tensor alias(es) not found in signature: "
                          f"{', '.join(unknown)}; it returns "
                          f"{', '.join(sorted(self.outputs[signature]))}")
        batcher = self._batchers.get(signature)
        outputs = batcher.run(feeds) if batcher else self.run(signature, feeds)
        if output_filter:
            outputs = {k: v for k, v in outputs.items() if k in output_filter}
        return outputs

    def run(self, signature: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls the signature's function on `feeds`, mapping TensorFlow's errors."""
        import tensorflow as tf

        try:
            result = self._calls[signature](feeds)
        except tf.errors.InvalidArgumentError as e:
            raise invalid(_reason(e.message)) from None
        except (tf.errors.OpError, TypeError, ValueError) as e:
            log.exception("%s version %s failed", self.name, self.version)
            raise ServingError("INTERNAL", f"{type(e).__name__}: {_reason(str(e))}") from None
        return {key: value.numpy() for key, value in result.items()}

    def batchable(self, signature: str) -> bool:
        """Whether requests to `signature` can be stacked along a first, batch dimension."""
        fn = self.functions[signature]
        shapes = [spec.shape for spec in self.inputs[signature].values()]
        shapes += [spec.shape for spec in fn.structured_outputs.values()]
        return all(s.rank and s[0] is None for s in shapes)

    def enable_batching(self, make_batcher) -> None:
        """Routes predict calls through batchers, one per batchable signature.

        Args:
            make_batcher: `(run) -> batcher`, where `run(feeds)` runs a whole batch and
                the batcher's `run(feeds)` answers one request.
        """
        for signature in self.functions:
            if self.batchable(signature):
                self._batchers[signature] = make_batcher(
                    lambda feeds, key=signature: self.run(key, feeds))

    def close(self) -> None:
        """Stops the batchers; in-flight calls finish, and the model is freed with the
        last reference to it."""
        for batcher in self._batchers.values():
            batcher.close()


def _direct_call(fn):
    """`feeds -> outputs` for a signature function, past its Python argument binding.

    `fn(**feeds)` binds and converts its arguments against the signature on every call,
    which `Servable.check` has done already: about 0.15 ms of CPU a call, a third of a
    small model's whole call (measured on the digits classifier). The function's flat
    form takes the inputs as tensors in the order `tf.nest` flattens a dict (sorted
    names) and returns the same outputs; where TensorFlow does not offer it, `fn(**feeds)`
    is used.
    """
    import tensorflow as tf

    args, kwargs = fn.structured_input_signature
    call_flat = getattr(fn, "_call_flat", None)
    if args or call_flat is None:
        return lambda feeds: fn(**feeds)
    names = sorted(kwargs)
    return lambda feeds: call_flat([tf.constant(feeds[name]) for name in names],
                                   fn.captured_inputs)


def _signature_defs(path: Path) -> dict:
    """The `SignatureDef` protos of a SavedModel, as TF Serving's metadata reports them."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    return {key: sig for graph in proto.meta_graphs
            for key, sig in graph.signature_def.items() if not key.startswith("__")}


def _reason(message: str) -> str:
    """The reason in a TensorFlow error, without its graph-execution boilerplate."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(
        ("Graph execution error", "Detected at node", "<stack traces", "[[", "Node:"))]
    text = reasons[0] if reasons else lines[-1] if lines else message
    return re.sub(r"\s+", " ", text)[:500]
