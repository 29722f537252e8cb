"""Prediction adapters: raw command-line inputs -> signature tensors -> text, by kind."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from suite import predict


def _signature(kind, **extra):
    return {"inputs": {"x": {"dtype": "string", "shape": [None], "kind": kind, **extra}},
            "outputs": {}}


def test_file_and_text_kinds(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG bytes")
    feeds, _ = predict.prepare(_signature("encoded_image"), [str(tmp_path / "a.png")])
    assert feeds["x"].numpy().tolist() == [b"\x89PNG bytes"]
    feeds, _ = predict.prepare(_signature("text"), ["héllo", ""])
    assert feeds["x"].numpy().tolist() == ["héllo".encode(), b""]
    with pytest.raises(predict.PredictionInputError, match=r"cannot read '.*nope.wav'"):
        predict.prepare(_signature("encoded_audio"), [str(tmp_path / "nope.wav")])


def test_numeric_window_reads_the_named_columns_in_model_order(tmp_path):
    path = tmp_path / "h.csv"
    stamps = pd.date_range("2024-01-01", periods=6, freq="D").strftime("%Y-%m-%d")
    pd.DataFrame({"day": stamps, "price": np.arange(6.0), "sales": 10 + np.arange(6.0)}
                 ).to_csv(path, index=False)
    signature = _signature("numeric_window", columns=["sales", "price"], lookback=4,
                           frequency="D")
    feeds, notes = predict.prepare(signature, [str(path)])
    np.testing.assert_array_equal(feeds["x"].numpy()[0], [[12, 2], [13, 3], [14, 4], [15, 5]])
    assert str(notes[0]["last_timestamp"])[:10] == "2024-01-06"
    missing = _signature("numeric_window", columns=["revenue"], lookback=4, frequency="D")
    with pytest.raises(predict.PredictionInputError,
                       match=r"h.csv: the model reads the column\(s\) 'revenue'; missing "
                             r"'revenue' \(the file has 'day', 'price', 'sales'\)"):
        predict.prepare(missing, [str(path)])


def test_signatures_the_command_line_cannot_fill_are_refused():
    with pytest.raises(predict.PredictionInputError, match=r"input 'x' is of kind 'pixels'; "
                                                           r"`suite predict` reads"):
        predict.prepare(_signature("pixels"), ["1"])
    two = {"inputs": {"a": {"kind": "text"}, "b": {"kind": "text"}}, "outputs": {}}
    with pytest.raises(predict.PredictionInputError, match="takes 2 inputs"):
        predict.prepare(two, ["x"])


def test_render_by_output_kind():
    signature = {"inputs": {}, "outputs": {"label": {"kind": "label"},
                                           "probabilities": {"kind": "class_probabilities"}}}
    out = {"label": tf.constant([b"cat", b"dog"]),
           "probabilities": tf.constant([[0.9, 0.1], [0.25, 0.75]])}
    assert predict.render({}, signature, ["a.png", "bb.png"], out, [{}, {}]).splitlines() == [
        "a.png   cat  (90.0%)", "bb.png  dog  (75.0%)"]
    text = {"inputs": {}, "outputs": {"translation": {"kind": "text"}}}
    assert predict.render({}, text, ["hi"], {"translation": tf.constant(["hola"])},
                          [{}]) == "hi\n  -> hola"
    unknown = {"inputs": {}, "outputs": {"score": {}}}
    assert predict.render({}, unknown, ["q"], {"score": tf.constant([[1.5, 2.0]])},
                          [{}]) == "q\n  score: [1.5 2. ]"
