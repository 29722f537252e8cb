"""The models a server holds: found under the model root, loaded, swapped and unloaded.

TF Serving's behaviour, for the layout `<root>/<model>/<version>/saved_model.pb`:

* each model serves its newest `versions` versions (TF Serving's `latest` policy); a
  request without a version gets the newest loaded one;
* a new version is loaded beside the old one and switched to when it is ready, so
  requests in flight finish on the version they started on (they hold it);
* a version that fails to load is reported (state END with its error) and not retried
  until its `saved_model.pb` changes; the versions already loaded keep serving;
* a model or version whose directory disappears is unloaded;
* a directory without `saved_model.pb`, and any name that is not a plain model name or
  a number, is ignored.

Requests only ever look names up in the table of loaded models: a name never becomes a
path, so no request can reach outside the model root.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from suite.export import versions as complete_versions
from suite.serving.errors import ServingError, invalid, not_found
from suite.serving.servable import Servable

log = logging.getLogger(__name__)

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class VersionState:
    """A version's state as TF Serving's GetModelStatus reports it."""

    state: str  # START, LOADING, AVAILABLE, UNLOADING or END
    error_code: str = "OK"
    error_message: str = ""


class ModelManager:
    """Loads the models under a root and keeps them current.

    Args:
        root: the model root (`saved_models`).
        versions: how many of each model's newest versions to keep loaded.
        on_load: optional `(servable) -> None`, called on each version before it serves
            (the server turns batching on there).
        on_change: optional `({model: [versions]}) -> None`, called after a scan that
            loaded or unloaded anything.
        on_failure: optional `(model) -> None`, called when a version fails to load.
    """

    def __init__(self, root: str | Path, versions: int = 1, on_load=None, on_change=None,
                 on_failure=None):
        if versions < 1:
            raise ValueError(f"versions: got {versions}, expected at least 1")
        self.root = Path(root)
        self.versions = versions
        self.on_load, self.on_change, self.on_failure = on_load, on_change, on_failure
        self._served: dict[str, dict[int, Servable]] = {}
        self._states: dict[str, dict[int, VersionState]] = {}
        self._failed: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()  # one scan at a time; readers never take it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import tensorflow_text  # noqa: F401  registers the ops text models use
        except ImportError:
            log.warning("tensorflow_text is not installed: models that use its ops will "
                        "fail to load")

    def get(self, name: str, version: int | None = None) -> Servable:
        """The servable for a request: the newest loaded version, or the one asked for.

        Raises:
            ServingError: NOT_FOUND, in TF Serving's words, for a model or version that is
                not loaded; INVALID_ARGUMENT for a malformed name.
        """
        check_name(name)
        versions = self._served.get(name)
        if version is None:
            if not versions:
                raise not_found(f"Servable not found for request: Latest({name})")
            return versions[max(versions)]
        if not versions or version not in versions:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return versions[version]

    def status(self, name: str, version: int | None = None) -> list[tuple[int, VersionState]]:
        """The states of a model's versions (or of one), newest first.

        Raises:
            ServingError: NOT_FOUND for a model or version the server does not know.
        """
        check_name(name)
        states = self._states.get(name)
        if not states:
            raise not_found(f"Could not find any versions of model {name}")
        states = dict(states)  # the poller changes it; dict() copies it in one step
        if version is not None:
            if version not in states:
                raise not_found(f"Could not find version {version} of model {name}")
            return [(version, states[version])]
        return sorted(states.items(), reverse=True)

    def has(self, name: str) -> bool:
        """Whether `name` is a model with a loaded version."""
        return name in self._served

    def loaded(self) -> dict[str, list[int]]:
        """The loaded versions of every model, `{model: [versions]}`."""
        return {name: sorted(versions) for name, versions in self._served.items()}

    def poll(self) -> None:
        """Scans the root once: loads new versions, unloads removed and superseded ones."""
        with self._lock:
            self._poll()

    def _poll(self) -> None:
        on_disk = self._scan()
        if on_disk is None:
            return
        changed = False
        for name in sorted((set(self._served) | set(self._states)) - set(on_disk)):
            log.warning("model %s: its directory is gone; unloading it", name)
            self._set(name, None)
            self._states.pop(name, None)
            changed = True
        for name, found in sorted(on_disk.items()):
            served = dict(self._served.get(name, {}))
            states = self._states.setdefault(name, {})
            wanted: list[int] = []
            for version in sorted(found, reverse=True):
                if len(wanted) == self.versions:
                    break
                if version in served:
                    wanted.append(version)
                    continue
                stamp = _stamp(found[version])
                if self._failed.get((name, version)) == stamp:
                    continue
                states[version] = VersionState("LOADING")
                try:
                    servable = Servable(name, version, found[version])
                    if self.on_load:
                        self.on_load(servable)
                except ServingError as e:
                    log.error("model %s version %s failed to load; %s: %s", name, version,
                              "keeping the loaded versions" if served else "nothing to serve",
                              e.message)
                    self._failed[(name, version)] = stamp
                    states[version] = VersionState("END", "UNKNOWN", e.message)
                    if self.on_failure:
                        self.on_failure(name)
                    continue
                self._failed.pop((name, version), None)
                served[version] = servable
                states[version] = VersionState("AVAILABLE")
                self._set(name, served)  # serves from here on
                log.info("model %s version %s is loaded from %s", name, version,
                            found[version])
                wanted.append(version)
                changed = True
            for version in sorted(set(served) - set(wanted)):
                old = served.pop(version)
                self._set(name, served)
                old.close()
                states[version] = VersionState("END")
                log.info("model %s version %s is unloaded", name, version)
                changed = True
            for version in [v for v in states if v not in found]:
                del states[version]
                changed = True
        if changed and self.on_change:
            self.on_change(self.loaded())

    def _set(self, name: str, served: dict[int, Servable] | None) -> None:
        table = dict(self._served)
        if served:
            table[name] = dict(served)
        else:
            for servable in table.pop(name, {}).values():
                servable.close()
        self._served = table  # one assignment: readers see the old or the new table

    def _scan(self) -> dict[str, dict[int, Path]] | None:
        try:
            entries = sorted(self.root.iterdir())
        except OSError as e:
            log.error("cannot read the model root %s (the loaded models keep serving): %s",
                      self.root, e)
            return None
        found = {}
        for entry in entries:
            if MODEL_NAME.fullmatch(entry.name) and entry.is_dir():
                found[entry.name] = {v: entry / str(v) for v in complete_versions(entry)}
        return found

    def start(self, poll_seconds: float) -> None:
        """Polls the root every `poll_seconds` in a background thread."""
        def loop():
            while not self._stop.wait(poll_seconds):
                try:
                    self.poll()
                except Exception:  # a scan must never end the polling
                    log.exception("polling %s failed", self.root)

        self._thread = threading.Thread(target=loop, name="model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops polling (the loaded models keep serving)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def check_name(name: str) -> None:
    """Checks a model name from a request.

    Raises:
        ServingError: INVALID_ARGUMENT for anything but letters, digits, `.`, `_` and `-`
            (a leading letter or digit, at most 128 characters).
    """
    if not MODEL_NAME.fullmatch(name or ""):
        raise invalid(f"model name {name[:130]!r} is not valid: expected letters, digits, "
                      "'.', '_' or '-', starting with a letter or digit (a directory "
                      "name under the model root)")


def parse_version(text: str) -> int:
    """A version number from a request path.

    Raises:
        ServingError: INVALID_ARGUMENT for anything but a non-negative integer.
    """
    if not text.isdigit() or len(text) > 18:
        raise invalid(f"Failed to convert version: {text[:30]} to numeric.")
    return int(text)


def _stamp(version_dir: Path) -> int:
    try:
        return (version_dir / "saved_model.pb").stat().st_mtime_ns
    except OSError:
        return -1


__all__ = ["ModelManager", "ServingError", "VersionState", "check_name", "parse_version"]
