"""Status times as Kubernetes writes them: RFC 3339 strings in UTC, to the millisecond
(``2026-12-03T08:13:13.512Z``). Inside the controller times are Unix seconds (floats);
only the stored form is text. Older status documents hold Unix seconds as numbers: both
forms read back."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

LATEST = 253402300799.0
"""9999-12-31T23:59:59Z: the last second a four-digit year can write. A stored time
outside ``0 .. LATEST`` (hand-edited: ``1e300``, ``NaN``, a negative year) reads as no
time at all, so that writing the status back can never fail."""


def rfc3339(seconds: float) -> str:
    """``seconds`` (Unix time) as an RFC 3339 UTC string with milliseconds."""
    millis = round(seconds * 1000)
    # gmtime and %-formatting write the text datetime.strftime would, without building a
    # datetime: every status write formats a few dozen of these
    utc = time.gmtime(millis // 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        utc.tm_year, utc.tm_mon, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
        millis % 1000)


def parse_time(value: Any) -> float | None:
    """Unix seconds from an RFC 3339 string or a number (the older form); None when
    ``value`` is neither, or a time no status can hold (see :data:`LATEST`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value:
        parsed = _parse_text(value)
        if parsed is None:
            return None
        seconds = parsed.timestamp()
    else:
        return None
    return seconds if math.isfinite(seconds) and 0.0 <= seconds <= LATEST else None


def _parse_text(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
