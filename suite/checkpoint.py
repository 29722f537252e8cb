"""What a run keeps on disk so that a trained model is never lost.

A `Checkpoint` directory holds, for one model of one run (keyed by its data and config):

    backup/               Keras BackupAndRestore state while `fit` runs (an interrupted
                          fit resumes at the start of the epoch it was in)
    history.json          the per-epoch metrics of the finished fit
    model.weights.h5      the trained weights, written last: its presence means "trained"
    mlflow_run_id         the MLflow run this model's run logs to (continued on resume)

Files are written to a temporary name and renamed, so a crash never leaves a checkpoint
that looks complete but is not.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from pathlib import Path

import keras

WEIGHTS = "model.weights.h5"
HISTORY = "history.json"
RUN_ID = "mlflow_run_id"


class Checkpoint:
    """A model's training state on disk: the backup of an unfinished fit, then its weights.

    Args:
        directory: where the state lives; created on first write.

    Example:
        >>> checkpoint = Checkpoint(".suite/runs/image-classification-3f2a")
        >>> if checkpoint.trained:
        ...     history = checkpoint.restore(model)
        ... else:
        ...     history = model.fit(...).history
        ...     checkpoint.save(model, history, epochs)
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @property
    def backup_dir(self) -> Path:
        """Where `BackupAndRestore` keeps the state of an unfinished fit."""
        return self.directory / "backup"

    @property
    def trained(self) -> bool:
        """True once a finished model's weights and history are saved."""
        return (self.directory / WEIGHTS).is_file() and (self.directory / HISTORY).is_file()

    @property
    def started(self) -> bool:
        """True if there is anything to resume: a fit's backup or a trained model."""
        return self.trained or self.backup_dir.is_dir()

    def save(self, model: keras.Model, history: dict, epochs: list[int]) -> Path:
        """Saves the trained weights and the fit's history; returns the weights' path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write(HISTORY, lambda p: p.write_text(json.dumps(
            {"history": {k: [float(v) for v in vs] for k, vs in history.items()},
             "epochs": [int(e) for e in epochs]}, indent=1)))
        self._write(WEIGHTS, lambda p: model.save_weights(str(p)))
        return self.directory / WEIGHTS

    def restore(self, model: keras.Model) -> tuple[dict, list[int]]:
        """Loads the saved weights into `model` (built as it was); returns the history.

        The optimizer's state is not restored (Keras saves it too): a restored model is
        evaluated and exported, not trained further.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(str(self.directory / WEIGHTS))
        saved = json.loads((self.directory / HISTORY).read_text())
        return saved["history"], saved["epochs"]

    def run_id(self) -> str | None:
        """The MLflow run this checkpoint's run logged to, if it noted one."""
        try:
            return (self.directory / RUN_ID).read_text().strip() or None
        except OSError:
            return None

    def note_run_id(self, run_id: str) -> None:
        """Remembers the MLflow run, so a resumed run continues it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write(RUN_ID, lambda p: p.write_text(run_id))

    def clear(self) -> None:
        """Deletes the checkpoint (after its model is exported, or to train afresh)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def _write(self, name: str, write) -> None:
        # The suffix is kept: Keras insists on `.weights.h5` for weight files.
        tmp = self.directory / f".tmp-{uuid.uuid4().hex}-{name}"
        try:
            write(tmp)
            os.replace(tmp, self.directory / name)
        finally:
            if tmp.exists():
                tmp.unlink()
