"""What the writing commands share with the operator: a progress bar and a confirmation."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from cli.common import UsageError


class Progress:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._tty = _isatty(self.stream)
        self._last_decile = -1

    def update(self, done: int, note: str = "") -> None:
        filled = self.width * done // self.total
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {note}".rstrip()
        if self._tty:
            self.stream.write("\r" + line)
            if done >= self.total:
                self.stream.write("\n")
        else:
            decile = 10 * done // self.total
            if decile == self._last_decile and done < self.total:
                return
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()


def confirm(question: str) -> bool:
    """Asks on the terminal; without one it refuses with what to pass instead."""
    if sys.stdin is None or not _isatty(sys.stdin):
        raise UsageError(f"{question[:-1]}: there is no terminal to confirm on; pass --yes (or --dry-run to only look)")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
