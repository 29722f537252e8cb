"""Checkpoint: trained weights and history saved atomically and restored."""

import keras
import numpy as np

from suite.checkpoint import Checkpoint


def _model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_save_then_restore_gives_the_same_model_and_history(tmp_path):
    checkpoint = Checkpoint(tmp_path / "run")
    assert not checkpoint.trained and not checkpoint.started
    trained = _model(0)
    checkpoint.save(trained, {"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, [0, 1])
    assert checkpoint.trained and checkpoint.started
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["history.json",
                                                                   "model.weights.h5"]
    fresh = _model(1)
    history, epochs = checkpoint.restore(fresh)
    assert history == {"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]} and epochs == [0, 1]
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(fresh(x), trained(x))


def test_run_id_and_clear(tmp_path):
    checkpoint = Checkpoint(tmp_path / "run")
    assert checkpoint.run_id() is None
    checkpoint.note_run_id("abc")
    assert checkpoint.run_id() == "abc"
    checkpoint.backup_dir.mkdir()
    assert checkpoint.started and not checkpoint.trained
    checkpoint.clear()
    assert not (tmp_path / "run").exists()
