"""End to end: `suite run image-classification` on tiny configs, export reload, predict."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from sklearn.datasets import load_digits

from pipelines.image_classification.config import ImageClassificationConfig
from pipelines.image_classification.pipeline import ImageClassificationPipeline
from suite import export, registry
from suite.cli import main
from suite.config import load_config
from tests.harness import assert_manifest_matches_model, predict_without_training_code

TINY = ["--set", "trainer.epochs=1", "--set", "data.limit=200"]


def _digit_pngs(directory: Path, count: int):
    digits = load_digits()
    paths = []
    for i in range(count):
        pixels = np.round(digits.images[i] * 255 / 16).astype(np.uint8)
        path = directory / f"digit{i}_{digits.target[i]}.png"
        Image.fromarray(pixels, mode="L").save(path)
        paths.append(path)
    return paths, digits.target[:count]


def test_run_tracks_exports_and_serves_png_bytes(workdir, capsys, monkeypatch):
    assert main(["run", "image-classification", *TINY]) == 0
    v1 = workdir / "saved_models" / "image-classification" / "1"
    assert (v1 / "saved_model.pb").is_file()
    manifest = export.read_manifest(v1)
    assert manifest["labels"] == [str(d) for d in range(10)]
    assert manifest["inputs"]["images"]["dtype"] == "string"
    assert set(manifest["outputs"]) == {"probabilities", "class_id", "label"}
    assert manifest["config"]["trainer"]["epochs"] == 1

    runs = mlflow.search_runs(experiment_names=["image-classification"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED" and run["run_id"] == manifest["mlflow_run_id"]
    assert run["params.trainer.epochs"] == "1" and run["params.data.limit"] == "200"
    assert set(manifest["metrics"]) == {
        f"{prefix}_{metric}" for prefix in ("test", "baseline_mlp",
                                            "baseline_logistic_regression")
        for metric in ("accuracy", "macro_f1")}
    for metric, value in manifest["metrics"].items():
        assert run[f"metrics.{metric}"] == pytest.approx(value)
    assert run["params.data.image_size"] == "8" and run["params.data.channels"] == "1"
    assert run["tags.baselines_computed"] == "logistic_regression,mlp"
    assert len(run["tags.data_fingerprint"]) == 16
    client = mlflow.MlflowClient()
    figures = {a.path for a in client.list_artifacts(run["run_id"], "figures")}
    assert figures == {"figures/learning_curves.png", "figures/confusion_matrix.png"}
    saved = {a.path for a in client.list_artifacts(run["run_id"], "saved_model")}
    assert "saved_model/saved_model.pb" in saved and "saved_model/suite.json" in saved

    # the export, fed the test split's PNG bytes, scores exactly what evaluation scored
    pipeline = ImageClassificationPipeline(load_config(
        ImageClassificationConfig, overrides=["trainer.epochs=1", "data.limit=200"]))
    splits = pipeline.load_data()
    records = [(r, y) for r, y in splits.test.as_numpy_iterator()]
    loaded = tf.saved_model.load(str(v1))
    served = loaded.signatures["serving_default"](images=tf.constant([r for r, _ in records]))
    accuracy = np.mean(served["class_id"].numpy() == np.array([y for _, y in records]))
    assert accuracy == pytest.approx(manifest["metrics"]["test_accuracy"])
    # and the pixels training saw are the ones the export decodes
    pixels = np.stack([x for x, _ in splits.examples("test").as_numpy_iterator()])
    by_pixels = loaded.signatures["predict_pixels"](pixels=tf.constant(pixels))
    np.testing.assert_allclose(by_pixels["probabilities"].numpy(),
                               served["probabilities"].numpy(), atol=1e-6)

    paths, targets = _digit_pngs(workdir, 5)
    out = loaded.signatures["serving_default"](images=tf.constant([p.read_bytes()
                                                                    for p in paths]))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    labels = [b.decode() for b in out["label"].numpy()]
    assert labels == [str(i) for i in out["class_id"].numpy()]
    pixels = load_digits().images[:5, :, :, None].astype("float32") / 16.0
    by_pixels = loaded.signatures["predict_pixels"](pixels=tf.constant(pixels))
    np.testing.assert_allclose(by_pixels["probabilities"].numpy(), probabilities, atol=0.02)

    assert_manifest_matches_model(v1)
    capsys.readouterr()
    assert main(["predict", "image-classification", *map(str, paths)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("# image-classification version 1")
    served_labels = [b.decode() for b in loaded.signatures["serving_default"](
        images=tf.constant([p.read_bytes() for p in paths]))["label"].numpy()]
    assert [line.split()[1] for line in printed[1:]] == served_labels
    isolated = predict_without_training_code("image-classification", *map(str, paths),
                                             cwd=workdir)
    assert isolated.returncode == 0, isolated.stderr
    assert isolated.stdout.splitlines()[1:] == printed[1:]

    (workdir / "notes.png").write_text("not an image")
    assert main(["predict", str(v1), str(paths[0]), str(workdir / "notes.png")]) == 1
    assert (f"the model could not read '{workdir / 'notes.png'}': Unknown image file format"
            in capsys.readouterr().err)
    assert main(["predict", "image-classification", str(workdir / "missing.png")]) == 2
    assert "cannot read " in capsys.readouterr().err
    assert main(["predict", "no-such-model", str(paths[0])]) == 2
    assert "no exported model 'no-such-model'" in capsys.readouterr().err

    # `run all` over two registered pipelines (each pipeline's own run is tested in its
    # module; all six at once took 6 minutes on 2 cores)
    monkeypatch.setattr(registry, "names", lambda: ["image-classification",
                                                     "document-retrieval"])
    assert main(["run", "all", *TINY]) == 0
    summary = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(summary) if line.startswith("pipeline"))
    spans = [m.span() for m in re.finditer(r"-+", summary[header + 1])]
    names = [summary[header][a:b].strip() for a, b in spans]
    assert names == ["pipeline", "metric", "model", "strongest baseline", "value", "result",
                     "ablation", "time", "export", "MLflow run"]
    rows = [dict(zip(names, (line[a:b].strip() for a, b in spans)))
            for line in summary[header + 2:header + 4]]
    assert [r["pipeline"] for r in rows] == ["image-classification", "document-retrieval"]
    row = rows[0]
    assert row["metric"] == "test_accuracy"
    assert row["strongest baseline"] in ("logistic_regression", "mlp")
    assert row["result"].startswith(("wins (margin +", "BEATEN by ", "ties"))
    assert row["ablation"] == "-"  # image classification has no ablation
    assert row["export"] == "saved_models/image-classification/2"
    v2 = v1.parent / "2"
    assert export.read_manifest(v2)["mlflow_run_id"] != manifest["mlflow_run_id"]
    assert len(mlflow.search_runs(experiment_names=["image-classification"])) == 2


def test_mixed_precision_and_xla_train_and_export(workdir):
    assert main(["run", "image-classification", *TINY, "--set", "trainer.mixed_precision=true",
                 "--set", "trainer.jit_compile=true"]) == 0
    version = workdir / "saved_models" / "image-classification" / "1"
    paths, _ = _digit_pngs(workdir, 2)
    out = tf.saved_model.load(str(version)).signatures["serving_default"](
        images=tf.constant([p.read_bytes() for p in paths]))
    assert out["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-3)


def _image_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("light", 210)):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(level, 20, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    (root / "light" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (root / "zzz_empty").mkdir()
    return root


def test_folder_with_a_corrupt_image_and_an_empty_class_skips_and_counts(workdir, capsys):
    data = _image_folder(workdir / "photos")
    code = main(["run", "image-classification", "--data", str(data),
                 "--set", "data.image_size=16", "--set", "trainer.epochs=1"])
    assert code == 0
    err = capsys.readouterr().err
    assert "2 input(s) skipped" in err
    manifest = export.read_manifest(workdir / "saved_models" / "image-classification" / "1")
    assert manifest["labels"] == ["dark", "light"]
    run = mlflow.search_runs(experiment_names=["image-classification"]).iloc[0]
    assert run["tags.data_skipped"] == "2"
    skipped = mlflow.artifacts.load_text(f"runs:/{run['run_id']}/reports/skipped_inputs.txt")
    assert "light/broken.png: not a readable image" in skipped
    assert "zzz_empty: class folder has no readable image" in skipped


def test_folder_with_a_corrupt_image_stops_when_told(workdir, capsys):
    data = _image_folder(workdir / "photos")
    code = main(["run", "image-classification", "--data", str(data),
                 "--set", "data.on_error=stop", "--set", "trainer.epochs=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "light/broken.png: not a readable image" in err
    assert "data.on_error=skip" in err
    assert not (workdir / "saved_models").exists()
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_a_tracking_failure_still_exports_the_model(workdir, monkeypatch, capsys):
    blocker = workdir / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlflow.db")
    assert main(["run", "image-classification", *TINY]) == 3
    err = capsys.readouterr().err
    assert "MLflow could not start a run" in err
    version = workdir / "saved_models" / "image-classification" / "1"
    assert (version / "saved_model.pb").is_file()
    assert export.read_manifest(version)["mlflow_run_id"] is None


def _suite(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "suite.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
                            **kwargs)


@pytest.mark.slow
def test_killed_run_resumes_from_its_backup(workdir):
    args = ["run", "image-classification", "--set", "trainer.epochs=30",
            "--set", "trainer.early_stopping_patience=0", "--set", "data.limit=300"]
    first = _suite(*args)
    deadline = time.monotonic() + 180
    done = 0
    while time.monotonic() < deadline and first.poll() is None:
        metas = list((workdir / ".suite" / "runs").glob("*/backup/training_metadata.json"))
        try:
            done = json.loads(metas[0].read_text())["epoch"] if metas else 0
        except (OSError, ValueError):
            done = 0
        if done >= 2:
            first.kill()
            break
        time.sleep(0.05)
    first.communicate()
    assert done >= 2, "the first run never wrote a backup"
    assert not (workdir / "saved_models").exists()

    second = _suite(*args)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert "Resuming from the backup" in err
    resumed_at = int(err.split("Resuming from the backup")[1].split("at epoch")[1].split()[0])
    assert resumed_at >= 3
    runs = mlflow.search_runs(experiment_names=["image-classification"])
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED"
    steps = [m.step for m in mlflow.MlflowClient().get_metric_history(runs.iloc[0]["run_id"],
                                                                      "loss")]
    assert sorted(set(steps)) == list(range(30))
    assert not list((workdir / ".suite" / "runs").iterdir())  # exported: nothing to resume


def _shapes_folder(root: Path, per_class: int = 60, size: int = 32) -> Path:
    """A small folder like a user's first: grey 32x32 pictures of four shapes at random
    places and sizes over noise, few enough for only a handful of steps per epoch."""
    from PIL import ImageDraw

    rng = np.random.default_rng(0)
    for shape in ("circle", "square", "triangle", "cross"):
        (root / shape).mkdir(parents=True)
        for i in range(per_class):
            image = Image.new("L", (size, size), int(rng.integers(170, 255)))
            draw = ImageDraw.Draw(image)
            r = rng.uniform(0.22, 0.38) * size
            cx, cy = rng.uniform(r, size - r, 2)
            ink = int(rng.integers(0, 90))
            if shape == "circle":
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)
            elif shape == "square":
                draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=ink)
            elif shape == "triangle":
                draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=ink)
            else:
                w = r / 3
                draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=ink)
                draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=ink)
            noisy = np.asarray(image, np.float32) + rng.normal(0, 12, (size, size))
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
                root / shape / f"{i}.png")
    return root


def test_a_small_folder_trains_in_inference_mode_from_the_first_epochs(workdir):
    """Few steps per epoch (here 6) must not leave inference mode behind training mode:
    validation accuracy, measured in inference mode, rises well above chance (0.25)."""
    folder = _shapes_folder(workdir / "shapes")
    pipeline = ImageClassificationPipeline(load_config(ImageClassificationConfig, overrides=[
        f"data.path={folder}", "data.image_size=32", "trainer.epochs=8",
        "eval.baselines=none"]))
    result = pipeline.run()
    assert result.tracking_errors == []
    val = pipeline.history["val_accuracy"]
    assert max(val[:8]) >= 0.6, val
    assert result.metrics["test_accuracy"] >= 0.6
