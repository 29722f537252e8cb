"""`benchmarks/datasets.py`: the registry, the table, the results file and one real run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import datasets  # noqa: E402

from suite import registry  # noqa: E402


def test_every_pipeline_has_an_embedded_set_a_real_format_set_and_one_kept_aside():
    for name in registry.names():
        sets = datasets.registered(name)
        assert any(d.embedded for d in sets), name
        assert any(not d.embedded for d in sets), name
        assert [d.role for d in sets].count("check") == 1, name
        assert len({d.name for d in sets}) == len(sets), name
    assert len(datasets.registered("forecasting")) >= 12


def _row(name, value, baselines, role="choose"):
    from suite.baselines import compare

    metrics = {"test_accuracy": value, **{f"baseline_{k}_accuracy": v
                                          for k, v in baselines.items()}}
    c = compare(metrics, "accuracy", True, ["logistic_regression", "mlp"])
    return {"name": name, "role": role, "description": f"the {name} set",
            "sizes": {"train": 10, "val": 2, "test": 3}, "value": value,
            "baselines": c.scores, "strongest": c.strongest, "beaten_by": list(c.beaten_by),
            "verdict": c.verdict(), "fit_seconds": 60.0, "run_seconds": 90.0}


def test_the_table_puts_the_model_beside_every_baseline_and_says_who_wins():
    rows = [_row("a", 0.9, {"logistic_regression": 0.8, "mlp": 0.85}),
            _row("b", 0.7, {"logistic_regression": 0.75}, role="check"),
            {"name": "c", "role": "choose", "description": "the c set",
             "skipped": "needs apt-get install flite"}]
    text = datasets.table("image-classification", rows)
    lines = text.splitlines()
    assert "| a | 10/2/3 | 0.9000 | 0.8000 | 0.8500 | mlp | wins (margin +0.0500) | 1.0 min " \
           "| 1.5 min |" in lines
    assert "| b (kept aside) | 10/2/3 | 0.7000 | 0.7500 | - | logistic_regression | BEATEN by " \
           "logistic_regression (margin -0.0500) | 1.0 min | 1.5 min |" in lines
    assert any(line.startswith("| c | needs apt-get install flite |") for line in lines)
    assert lines[-1] == "The model beats every baseline on 1 of 2 data sets; beaten on b."


def test_results_keep_each_pipelines_newest_block_and_move_the_old_one_to_its_history(
        tmp_path):
    path = tmp_path / "results.md"
    path.write_text("# Results\n\nHand-written notes stay.\n")
    datasets.write_results(path, "forecasting", "Not measured yet.")  # a placeholder
    datasets.write_results(path, "forecasting", "Measured first table")
    datasets.write_results(path, "translation", "other pipeline")
    datasets.write_results(path, "forecasting", "Measured second table")
    datasets.write_results(path, "forecasting", "Measured third table")
    text = path.read_text()
    assert text.startswith("# Results\n\nHand-written notes stay.\n")
    assert text.count("## forecasting") == 1 and text.count("<details>") == 2
    newest = text.split("<!-- datasets:forecasting -->\n")[1].split("<!-- /datasets")[0]
    assert newest == "Measured third table\n"
    history = text.split("<!-- history:forecasting -->\n")[1].split("<!-- /history")[0]
    assert history == "> Measured second table\n\n> Measured first table\n"
    assert "other pipeline" in text.split("## translation")[1]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_one_embedded_set_on_a_tiny_config_prints_its_table(tmp_path):
    results = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "datasets.py"), "image-classification", "--only",
         "digits", "--set", "trainer.epochs=1", "--set", "data.limit=200", "--results",
         str(results), "--cache", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("| digits |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "140/20/40"
    model, lr, mlp = (float(c) for c in cells[2:5])
    assert cells[5] == ("logistic_regression" if lr >= mlp else "mlp")
    assert cells[6].startswith("BEATEN" if max(lr, mlp) > model else "wins")
    assert "--only digits --set trainer.epochs=1 --set data.limit=200" in done.stdout
    assert row in results.read_text()
