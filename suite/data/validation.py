"""Bad input files and lines: report them by name, then skip and count them or stop."""

from __future__ import annotations

import logging

log = logging.getLogger("suite.data")


class DataError(ValueError):
    """Input data that cannot be used, naming the file (and line) and the reason."""


class Skipped:
    """Collects bad inputs under the `data.on_error` policy.

    Args:
        on_error: `"skip"` to log and count each bad input, `"stop"` to raise `DataError`.

    Example:
        >>> skipped = Skipped("skip")
        >>> skipped.report("cats/3.png", "not a decodable image")
        >>> len(skipped)
        1
    """

    def __init__(self, on_error: str = "skip"):
        if on_error not in ("skip", "stop"):
            raise ValueError(f"on_error: got {on_error!r}, expected 'skip' or 'stop'")
        self.on_error = on_error
        self.items: list[str] = []

    def report(self, path, reason: str, line: int | None = None) -> None:
        """Records one bad input; raises `DataError` under the `"stop"` policy."""
        where = f"{path}:{line}" if line is not None else str(path)
        message = f"{where}: {reason}"
        if self.on_error == "stop":
            raise DataError(f"{message} (set data.on_error=skip to skip such inputs)")
        log.warning("skipped %s", message)
        self.items.append(message)

    def __len__(self) -> int:
        return len(self.items)
