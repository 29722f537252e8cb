"""The MLflow pyfunc wrapper feeds a DataFrame's columns to the SavedModel intact."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from suite.experiments.savedmodel_pyfunc import MANIFEST, SavedModelPredictor


class _Sizes(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="audio"),
                                  tf.TensorSpec([None, 3], tf.float32, name="window")])
    def serve(self, audio, window):
        return {"bytes": tf.strings.length(audio), "total": tf.reduce_sum(window, axis=1),
                "echo": audio}


@pytest.fixture
def predictor(tmp_path):
    module = _Sizes()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    (tmp_path / MANIFEST).write_text(json.dumps({"signature_name": "serving_default"}))
    context = type("Context", (), {"artifacts": {"saved_model": str(tmp_path)}})()
    model = SavedModelPredictor()
    model.load_context(context)
    return model


def test_bytes_keep_their_trailing_nul_bytes_and_arrays_are_stacked(predictor):
    # A WAV that ends in silence ends in zero bytes; a fixed-width numpy bytes array
    # would cut them off and the WAV decoder would find the file too short.
    wavs = [b"RIFF\x01\x00\x00", b"RIFF\x00\x00\x00\x00\x00", b"text"]
    frame = pd.DataFrame({"audio": wavs,
                          "window": [np.ones(3, np.float32), np.zeros(3, np.float32),
                                     np.arange(3, dtype=np.float32)]})
    out = predictor.predict(None, frame)
    assert out["bytes"].tolist() == [7, 9, 4]
    assert out["total"].tolist() == [3.0, 0.0, 3.0]
    assert out["echo"][2] == "text"  # strings come back decoded


def test_a_missing_input_is_named(predictor):
    with pytest.raises(ValueError, match="missing \\['window'\\]"):
        predictor.predict(None, pd.DataFrame({"audio": [b"x"]}))
