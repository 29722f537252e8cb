"""The MLflow pyfunc model of a suite export: the SavedModel called through the signature
its manifest names (`serving_default`).

MLflow logs this file with the model ("models from code"), so `mlflow.pyfunc.load_model`
and `mlflow models serve` need TensorFlow (and tensorflow-text for text models), not the
suite. Inputs are a dict of arrays, or a DataFrame with one column per input, named and
typed as the signature's (image and WAV bytes as bytes, text as strings, windows as
float32); outputs are a dict of arrays, strings decoded from UTF-8.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

MANIFEST = "suite.json"


class SavedModelPredictor(mlflow.pyfunc.PythonModel):
    """A suite export as an MLflow pyfunc model (artifact `saved_model`: the version
    directory)."""

    def load_context(self, context) -> None:
        import tensorflow as tf

        try:
            import tensorflow_text  # noqa: F401  registers the text ops text models use
        except ImportError:
            pass
        directory = Path(context.artifacts["saved_model"])
        self.manifest = json.loads((directory / MANIFEST).read_text())
        name = self.manifest.get("signature_name", "serving_default")
        self.signature = tf.saved_model.load(str(directory)).signatures[name]
        self.specs = self.signature.structured_input_signature[1]

    def predict(self, context, model_input: pd.DataFrame, params=None
                ) -> dict[str, np.ndarray]:
        """The signature's outputs for `model_input`: a DataFrame with one column per
        input, or (for inputs of several values per example, such as windows) a dict of
        arrays. The annotation tells MLflow not to convert the input."""
        import tensorflow as tf

        if hasattr(model_input, "columns"):  # a DataFrame: one column per input
            model_input = {c: column_array(model_input[c]) for c in model_input.columns}
        missing = sorted(set(self.specs) - set(model_input))
        if missing:
            raise ValueError(f"the model takes the input(s) {sorted(self.specs)}; missing "
                             f"{missing}")
        feeds = {name: tf.constant(np.asarray(model_input[name]), spec.dtype)
                 for name, spec in self.specs.items()}
        return {name: _readable(value.numpy()) for name, value in self.signature(**feeds).items()}


def column_array(column: pd.Series) -> np.ndarray:
    """One input's values: bytes and strings as an object array (numpy's fixed-width `S`
    type would drop trailing NUL bytes, the silence at the end of a WAV), arrays stacked."""
    values = column.to_numpy()
    if len(values) and isinstance(values[0], (bytes, str)):
        return np.asarray(list(values), dtype=object)
    return np.stack(values)


def _readable(value: np.ndarray) -> np.ndarray:
    """String tensors come back as bytes: decoded, so JSON clients read text."""
    if value.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes)
                            else b, otypes=[object])(value)
    return value


mlflow.models.set_model(SavedModelPredictor())
