"""Checkpoint: trained weights and history saved atomically and restored."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from suite.checkpoint import Checkpoint, CheckpointMismatch


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


def test_weights_of_another_layout_are_not_restored(tmp_path):
    checkpoint = Checkpoint(tmp_path / "run")
    checkpoint.save(_model(0), {"loss": [1.0]}, [0])
    inputs = keras.Input((3,))
    wider = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    before = [w.numpy().copy() for w in wider.weights]
    with pytest.raises(CheckpointMismatch, match="another layout"):
        checkpoint.restore(wider)
    for w, b in zip(wider.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)  # nothing was loaded


def test_epochs_logged_before_a_resume_are_kept_in_the_history(tmp_path):
    checkpoint = Checkpoint(tmp_path / "run")
    logger = checkpoint.epoch_logger()
    logger.on_epoch_end(0, {"loss": 3.0})
    logger.on_epoch_end(1, {"loss": 2.0})
    # the process dies; the resumed fit runs epochs 2 and 3 and reports only those
    checkpoint.save(_model(0), {"loss": [1.5, 1.0]}, [2, 3])
    assert checkpoint.history() == ({"loss": [3.0, 2.0, 1.5, 1.0]}, [0, 1, 2, 3])


def test_a_model_of_another_layout_is_trained_afresh(tmp_path, capsys):
    from suite.config import TrainerConfig
    from suite.training import Trainer

    checkpoint = Checkpoint(tmp_path / "run")
    checkpoint.save(_model(0), {"loss": [1.0]}, [0])
    inputs = keras.Input((3,))
    wider = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    trainer = Trainer(TrainerConfig(epochs=1, batch_size=4))
    trainer.compile(wider, "mse")
    data = tf.data.Dataset.from_tensor_slices((np.ones((8, 3), "float32"),
                                               np.zeros((8, 4), "float32")))
    _, epochs, restored = trainer.fit_or_restore(wider, checkpoint, data)
    assert not restored and epochs == [0]
    assert "another layout" in capsys.readouterr().err
    assert checkpoint.restore(wider)[1] == [0]  # the new model is saved in its place
