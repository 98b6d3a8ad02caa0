"""Reading an instance's log file (its process's stdout and stderr)."""

from __future__ import annotations

from pathlib import Path

# A follower reads the log in pieces of at most this many bytes.
LOG_CHUNK = 1 << 20


def read_tail(path: Path | None, tail: int | None = None) -> str:
    """The log, or its last ``tail`` bytes ('' when there is none)."""
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as fh:
        if tail is not None and tail >= 0:
            size = path.stat().st_size
            fh.seek(max(0, size - tail))
        return fh.read().decode("utf-8", errors="replace")


def read_from(path: Path | None, offset: int) -> tuple[bytes, int]:
    """At most LOG_CHUNK bytes of the log from byte ``offset``, and the offset after
    them: what a follower asks for again and again, so one read stays bounded."""
    if path is None or not path.exists():
        return b"", 0
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        start = min(max(0, offset), size)
        fh.seek(start)
        data = fh.read(LOG_CHUNK)
    return data, start + len(data)
