import pytest

from suite.cli import main


def test_list_names_each_pipeline_with_a_line(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("image-classification")
    assert "CNN" in out


def test_unknown_pipeline_lists_the_known_ones(capsys):
    assert main(["run", "image-clasification"]) == 2
    err = capsys.readouterr().err
    assert "unknown pipeline 'image-clasification'" in err and "image-classification" in err


@pytest.mark.parametrize("override, expected", [
    ("trainer.epoch=2", "did you mean 'trainer.epochs'"),
    ("trainer.batch_size=-1", "'trainer.batch_size': got -1, expected a value >= 1"),
    ("data.on_error=ignore", "'data.on_error': got 'ignore', expected one of skip, stop"),
])
def test_bad_overrides_fail_before_any_work(override, expected, capsys, workdir):
    assert main(["run", "image-classification", "--set", override]) == 2
    assert expected in capsys.readouterr().err
    assert not (workdir / "mlflow.db").exists() and not (workdir / "saved_models").exists()


def test_missing_data_folder_is_a_clear_error(capsys, workdir):
    assert main(["run", "image-classification", "--data", str(workdir / "nope")]) == 2
    assert "is not a directory of class folders" in capsys.readouterr().err


def test_predict_without_an_export_says_what_to_do(capsys):
    assert main(["predict", "image-classification", "x.png"]) == 2
    assert "no exported model 'image-classification' under 'saved_models'" in \
        capsys.readouterr().err


def test_runs_with_an_empty_store(capsys):
    assert main(["runs"]) == 0
    assert "no runs in sqlite:///" in capsys.readouterr().out


def test_an_unusable_strategy_fails_before_any_work(capsys, workdir, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    assert main(["run", "image-classification", "--set", "trainer.strategy=multi_worker",
                 "--set", "trainer.jit_compile=true"]) == 2
    assert "XLA cannot compile the workers' collective ops on CPUs" in capsys.readouterr().err
    assert not (workdir / "mlflow.db").exists()


def test_tensorflow_start_up_notices_stay_off_the_console_unless_verbose(workdir):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-m", "suite.cli", "list"], capture_output=True,
                           text=True, env=env, timeout=120)
    assert quiet.returncode == 0 and "image-classification" in quiet.stdout
    assert quiet.stderr == ""
    raw = subprocess.run([sys.executable, "-c", "import tensorflow as tf; "
                          "tf.config.list_physical_devices()"], capture_output=True, text=True,
                         env=env, timeout=120)
    if not raw.stderr.strip():
        pytest.skip("this TensorFlow build prints nothing at start-up: nothing to hide or show")
    verbose = subprocess.run([sys.executable, "-m", "suite.cli", "-v", "list"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert verbose.returncode == 0
    assert raw.stderr.strip().splitlines()[0] in verbose.stderr  # -v leaves them alone


def test_run_report_puts_each_baseline_beside_the_model():
    from suite.cli import _metrics_table

    table = _metrics_table({"test_accuracy": 0.9, "test_macro_f1": 0.8,
                            "baseline_logistic_regression_accuracy": 0.7,
                            "baseline_logistic_regression_macro_f1": 0.6,
                            "baseline_mlp_accuracy": 0.85}).splitlines()
    assert table[0].split() == ["metric", "test", "baseline", "logistic_regression",
                                "baseline", "mlp"]
    assert table[2].split() == ["accuracy", "0.9000", "0.7000", "0.8500"]
    assert table[3].split() == ["macro_f1", "0.8000", "0.6000", "-"]
