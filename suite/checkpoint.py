"""What a run keeps on disk so that a trained model is never lost.

A `Checkpoint` directory holds, for one model of one run (keyed by its data and config):

    backup/               Keras BackupAndRestore state while `fit` runs (an interrupted
                          fit resumes at the start of the epoch it was in)
    epochs.jsonl          each finished epoch's metrics, appended as training goes, so the
                          history of a fit that was interrupted and resumed is whole
    history.json          the per-epoch metrics and the weights' layout of the finished fit
    model.weights.h5      the trained weights, written last: its presence means "trained"
    mlflow_run_id         the MLflow run this model's run logs to (continued on resume)

The suite's own files are written to a temporary name and renamed, so a crash never
leaves a checkpoint that looks complete but is not. (Keras writes `backup/` itself.)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
import warnings
from pathlib import Path

import keras

log = logging.getLogger(__name__)

WEIGHTS = "model.weights.h5"
EPOCHS = "epochs.jsonl"
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
        """Saves the trained weights and the fit's history; returns the weights' path.

        Epochs logged by `epoch_logger` (those before a resume included) are merged in.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        logged = self._logged_epochs()
        for epoch, values in zip(epochs, zip(*history.values()) if history else []):
            logged[int(epoch)] = dict(zip(history, values))
        order = sorted(logged)
        merged = {k: [float(logged[e].get(k, float("nan"))) for e in order]
                  for k in dict.fromkeys(k for e in order for k in logged[e])}
        self._write(HISTORY, lambda p: p.write_text(json.dumps(
            {"history": merged, "epochs": order, "layout": layout(model)}, indent=1)))
        self._write(WEIGHTS, lambda p: model.save_weights(str(p)))
        return self.directory / WEIGHTS

    def restore(self, model: keras.Model) -> tuple[dict, list[int]]:
        """Loads the saved weights into `model` (built as it was); returns the history.

        The optimizer's state is not restored (Keras saves it too): a restored model is
        evaluated and exported, not trained further.

        Raises:
            CheckpointMismatch: if the saved weights do not fit `model` (its code changed);
                nothing is loaded then.
            RuntimeError: if the weights file cannot be read.
        """
        saved = json.loads((self.directory / HISTORY).read_text())
        if saved.get("layout") != layout(model):
            raise CheckpointMismatch(f"the weights in {self.directory} were saved from a "
                                     "model of another layout (its code changed since)")
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore",
                                        message="Skipping variable loading for optimizer")
                model.load_weights(str(self.directory / WEIGHTS))
        except (OSError, ValueError) as e:
            raise RuntimeError(f"cannot load the weights in {self.directory}: {e}; delete "
                               "it, or run with --set trainer.resume=false to train afresh") \
                from None
        return saved["history"], saved["epochs"]

    def epoch_logger(self) -> keras.callbacks.Callback:
        """A callback appending each finished epoch's metrics to `epochs.jsonl`."""
        return _EpochLog(self)

    def _logged_epochs(self) -> dict[int, dict]:
        epochs = {}
        try:
            lines = (self.directory / EPOCHS).read_text().splitlines()
        except OSError:
            return epochs
        for line in lines:
            try:
                record = json.loads(line)
                epochs[int(record.pop("epoch"))] = record
            except (ValueError, KeyError, TypeError):  # a line cut short by a kill
                continue
        return epochs

    def history(self) -> tuple[dict, list[int]]:
        """The saved fit's per-epoch metrics and epoch numbers."""
        saved = json.loads((self.directory / HISTORY).read_text())
        return saved["history"], saved["epochs"]

    def discard_model(self) -> None:
        """Deletes the backup, the epoch log and any trained weights, keeping the run id."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)
        for name in (WEIGHTS, HISTORY, EPOCHS):
            (self.directory / name).unlink(missing_ok=True)

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
        try:
            shutil.rmtree(self.directory)
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("could not delete the checkpoint %s (%s): delete it by hand, or a "
                        "re-run of the same config will restore its model", self.directory, e)

    def _write(self, name: str, write) -> None:
        # The suffix is kept: Keras insists on `.weights.h5` for weight files.
        tmp = self.directory / f".tmp-{uuid.uuid4().hex}-{name}"
        try:
            write(tmp)
            os.replace(tmp, self.directory / name)
        finally:
            if tmp.exists():
                tmp.unlink()


class CheckpointMismatch(RuntimeError):
    """Saved weights that do not belong to the model being restored."""


def layout(model: keras.Model) -> list[list[int]]:
    """The shapes of the model's weights, in order: what saved weights must match. (Not
    their paths: automatic layer names change with what else a process has built.)"""
    return [list(w.shape) for w in model.weights]


class _EpochLog(keras.callbacks.Callback):
    def __init__(self, checkpoint: Checkpoint):
        super().__init__()
        self.checkpoint = checkpoint

    def on_epoch_end(self, epoch, logs=None):
        self.checkpoint.directory.mkdir(parents=True, exist_ok=True)
        record = {"epoch": int(epoch), **{k: float(v) for k, v in (logs or {}).items()}}
        with (self.checkpoint.directory / EPOCHS).open("a") as f:
            f.write(json.dumps(record) + "\n")
