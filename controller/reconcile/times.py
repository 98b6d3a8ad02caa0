"""Status times as Kubernetes writes them: RFC 3339 strings in UTC, to the millisecond
(``2026-12-03T08:13:13.512Z``). Inside the controller times are Unix seconds (floats);
only the stored form is text. Older status documents hold Unix seconds as numbers: both
forms read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def rfc3339(seconds: float) -> str:
    """``t`` (Unix seconds) as an RFC 3339 UTC string with milliseconds."""
    millis = round(seconds * 1000)
    stamp = datetime.fromtimestamp(millis // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis % 1000:03d}Z"


def parse_time(value: Any) -> float | None:
    """Unix seconds from an RFC 3339 string or a number (the older form); None when ``v``
    is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None
