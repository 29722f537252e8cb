import keras
import numpy as np
import pytest
import tensorflow as tf

from suite.config import ConfigError, TrainerConfig
from suite.training import Trainer


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 1.0).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y))


def _model(trainer):
    with trainer.scope():
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax",
                                                       dtype="float32")(hidden))
        trainer.compile(model, "sparse_categorical_crossentropy", ["accuracy"])
    return model


@pytest.mark.parametrize("strategy", ["default", "mirrored", "multi_worker"])
def test_fit_under_each_strategy(strategy):
    trainer = Trainer(TrainerConfig(epochs=2, batch_size=16, strategy=strategy))
    model = _model(trainer)
    history = trainer.fit(model, _data(), _data(32, 1))
    assert len(history.history["loss"]) == 2
    assert "val_accuracy" in history.history


def test_a_malformed_cluster_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, '
                                    '"task": {"type": "ps", "index": 0}}')
    with pytest.raises(ConfigError, match="TF_CONFIG: task .* is not one of the cluster's"):
        Trainer(TrainerConfig(strategy="multi_worker")).strategy


def test_xla_with_several_cpu_workers_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    with pytest.raises(ConfigError, match="trainer.jit_compile: got 'true'.*2 workers"):
        Trainer(TrainerConfig(strategy="multi_worker", jit_compile="true")).strategy


def test_the_loop_trains_like_fit_in_one_process():
    config = TrainerConfig(epochs=3, batch_size=16, early_stopping_patience=0, seed=3)
    trainer = Trainer(config)
    train = _data().batch(16)  # one order for both: the loop takes a batch to build with
    val = _data(32, 1).batch(16)
    keras.utils.set_random_seed(config.seed)
    reference = _model(trainer).fit(train, validation_data=val, epochs=3, verbose=0,
                                     shuffle=False).history
    keras.utils.set_random_seed(config.seed)
    history = trainer.fit_loop(_model(trainer), train, val).history
    assert set(reference) <= set(history)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history[key], reference[key], rtol=1e-5, err_msg=key)


def test_the_loop_resumes_from_its_backup(tmp_path):
    config = TrainerConfig(epochs=4, batch_size=16, early_stopping_patience=0)
    first = Trainer(config, backup_dir=tmp_path / "backup")
    model = _model(first)
    train = first.input_pipeline(_data(), training=True)
    with pytest.raises(KeyboardInterrupt):
        first.fit_loop(model, train, callbacks=[_Interrupt(at_epoch=2)])
    assert (tmp_path / "backup" / "multi_worker_state.npz").is_file()
    again = Trainer(config, backup_dir=tmp_path / "backup")
    resumed = _model(again)
    history = again.fit_loop(resumed, train)
    assert history.epoch == [2, 3]
    assert int(resumed.optimizer.iterations) == 4 * 4  # 64 examples in batches of 16
    assert not (tmp_path / "backup" / "multi_worker_state.npz").exists()


def test_mixed_precision_policy_applies_inside_the_scope_only():
    trainer = Trainer(TrainerConfig(mixed_precision="true"))
    model = _model(trainer)
    assert model.layers[1].dtype_policy.name == "mixed_float16"
    assert model.layers[1].kernel.dtype == "float32"
    assert keras.mixed_precision.dtype_policy().name == "float32"


@pytest.mark.parametrize("setting, expected", [("true", True), ("false", False)])
def test_jit_compile_setting_reaches_the_model(setting, expected):
    assert _model(Trainer(TrainerConfig(jit_compile=setting))).jit_compile is expected


def test_early_stopping_restores_the_best_weights():
    trainer = Trainer(TrainerConfig(epochs=30, batch_size=16, learning_rate=0.5,
                                    early_stopping_patience=2))
    model = _model(trainer)
    history = trainer.fit(model, _data(), _data(32, 1), monitor="val_loss", mode="min")
    best = min(history.history["val_loss"])
    val_loss = model.evaluate(_data(32, 1).batch(32), verbose=0)[0]
    assert val_loss == pytest.approx(best, rel=1e-4)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_an_interrupted_fit_resumes_from_the_backup(tmp_path):
    config = TrainerConfig(epochs=4, batch_size=16, early_stopping_patience=0)
    backup = tmp_path / "backup"
    first = Trainer(config, backup_dir=backup)
    model = _model(first)
    with pytest.raises(KeyboardInterrupt):
        first.fit(model, _data(), _data(32, 1), callbacks=[_Interrupt(2)])
    assert first.resume_epoch() == 2
    saved = model.get_weights()

    second = Trainer(config, backup_dir=backup)
    fresh = _model(second)
    restored = []

    class _Peek(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if not restored:
                restored.append([w.copy() for w in self.model.get_weights()])

    history = second.fit(fresh, _data(), _data(32, 1), callbacks=[_Peek()])
    assert history.epoch == [2, 3]
    for got, want in zip(restored[0], saved):
        np.testing.assert_allclose(got, want)
    assert not backup.exists()


def test_verbosity(monkeypatch):
    monkeypatch.setenv("CI", "1")
    assert Trainer(TrainerConfig()).verbosity() == 0
    assert Trainer(TrainerConfig(verbose="1")).verbosity() == 1
    monkeypatch.delenv("CI")
    assert Trainer(TrainerConfig()).verbosity() in (1, 2)


def test_optimizers():
    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
               "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    for name, cls in classes.items():
        optimizer = Trainer(TrainerConfig(optimizer=name, learning_rate=0.01)).optimizer()
        assert type(optimizer) is cls, name
        assert float(optimizer.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize("flags, fast", [
    ("fpu sse avx2 avx512f", False),
    ("fpu avx512f avx512_bf16 avx512_vnni", True),
    ("fpu amx_bf16 amx_tile", True),
    ("fpu xavx512_bf16y", False),  # a flag is a whole word
])
def test_cpu_has_fast_bfloat16_reads_the_cpu_flags(flags, fast, tmp_path):
    from suite.training import cpu_has_fast_bfloat16

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_has_fast_bfloat16(cpuinfo) is fast
    assert cpu_has_fast_bfloat16(tmp_path / "missing") is False


def test_datasets_are_cached_only_where_they_fit():
    small = Trainer(TrainerConfig(cache_mb=1)).input_pipeline(_data(), training=False)
    large = Trainer(TrainerConfig(cache_mb=0)).input_pipeline(_data(), training=False)
    assert "CacheDatasetV2" in _graph_ops(small)
    assert not any(op.startswith("CacheDataset") for op in _graph_ops(large))
    batches = list(small.as_numpy_iterator())
    assert sum(len(x) for x, _ in batches) == 64


def _graph_ops(ds):
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(ds._as_serialized_graph().numpy())
    return {node.op for node in graph.node}


def test_an_empty_validation_split_trains_without_early_stopping():
    trainer = Trainer(TrainerConfig(epochs=3, batch_size=16, early_stopping_patience=1,
                                    reduce_lr_patience=1))
    history = trainer.fit(_model(trainer), _data(), _data().take(0), monitor="val_loss")
    assert history.epoch == [0, 1, 2] and "val_loss" not in history.history


def test_records_are_shuffled_before_decoding_when_they_do_not_fit_the_cache():
    trainer = Trainer(TrainerConfig(batch_size=5, cache_mb=0, seed=1))
    records = tf.data.Dataset.from_tensor_slices((np.arange(40), np.arange(40) % 2))
    decoded = []

    def note(record):
        decoded.append(int(record))
        return record

    def decode(record, label):
        record = tf.py_function(note, [record], tf.int64)
        return tf.fill([64, 64], tf.cast(record, tf.float32)), label

    batches = trainer.input_pipeline(records, training=True, decode=decode)
    epoch = np.concatenate([x[:, 0, 0] for x, _ in batches.as_numpy_iterator()])
    assert sorted(epoch) == list(range(40))            # every example once per epoch
    # decoding met the records already shuffled (decoding first, then shuffling the
    # decoded images, would meet them in file order give or take the parallel calls)
    assert sorted(decoded) == list(range(40))
    assert np.mean(np.abs(np.array(decoded) - np.arange(40)) > 8) > 0.5
    again = np.concatenate([x[:, 0, 0] for x, _ in batches.as_numpy_iterator()])
    assert list(again) != list(epoch)                  # reshuffled each epoch
    evaluation = trainer.input_pipeline(records, training=False, decode=decode)
    assert [int(x[0, 0]) for x, _ in evaluation.unbatch().as_numpy_iterator()] == \
        list(range(40))                                # validation keeps its order


def test_augment_sees_inputs_and_targets_together():
    trainer = Trainer(TrainerConfig(batch_size=4, seed=0))
    ds = tf.data.Dataset.from_tensor_slices((np.arange(8, dtype=np.float32)[:, None],
                                             np.arange(8, dtype=np.float32)[:, None]))

    def flip_both(x, y):  # e.g. an image and its mask flipped together
        return -x, -y

    for x, y in trainer.input_pipeline(ds, training=True,
                                       augment=flip_both).as_numpy_iterator():
        np.testing.assert_array_equal(x, y)
        assert (x <= 0).all()


@pytest.mark.parametrize("setting, expected", [
    ("false", "float32"), ("true", "mixed_float16"), ("bfloat16", "mixed_bfloat16")])
def test_mixed_precision_settings_name_their_policy(setting, expected):
    assert Trainer(TrainerConfig(mixed_precision=setting)).dtype_policy() == expected


def test_auto_precision_follows_the_hardware(monkeypatch):
    from suite import training

    monkeypatch.setattr(training.tf.config, "list_physical_devices", lambda kind=None: [])
    for fast, expected in ((True, "mixed_bfloat16"), (False, "float32")):
        monkeypatch.setattr(training, "cpu_has_fast_bfloat16", lambda fast=fast: fast)
        assert Trainer(TrainerConfig(mixed_precision="auto")).dtype_policy() == expected
    monkeypatch.setattr(training.tf.config, "list_physical_devices", lambda kind=None: ["gpu"])
    assert Trainer(TrainerConfig(mixed_precision="auto")).dtype_policy() == "mixed_float16"


def test_cosine_schedule_decays_per_epoch_and_excludes_reduce_on_plateau():
    trainer = Trainer(TrainerConfig(epochs=4, learning_rate=0.1, schedule="cosine"))
    rates = [trainer.cosine_rate(e) for e in range(4)]
    assert rates[0] == pytest.approx(0.1) and rates[2] == pytest.approx(0.05)
    assert all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] > 0
    from suite.config import Config, ConfigError, load_config

    with pytest.raises(ConfigError, match="'trainer.schedule' = 'cosine' and "
                                          "'trainer.reduce_lr_patience' = 3"):
        load_config(Config, overrides=["trainer.schedule=cosine",
                                       "trainer.reduce_lr_patience=3"])
