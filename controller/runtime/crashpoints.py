"""Named points where a test can make the controller die, as a crash would.

``$FOGSTRAT_CRASH_AT`` names one point (``history-stored``) or one point for one kind of
history entry (``history-stored:failover``); the process exits at once when it gets there,
with no clean-up, no resign and nothing flushed -- what a SIGKILL at exactly that moment
would leave. Unset (always, outside tests), a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import sys

CRASH_ENV = "FOGSTRAT_CRASH_AT"
EXIT_CODE = 86
POINTS = ("history-stored", "history-counted", "history-reported")
"""``history-stored``: a history entry is in the stored status, nothing reported yet;
``history-counted``: its counters and log line are done, its Event not written;
``history-reported``: its Event is written, the status not yet marked reported."""


def crash_point(point: str, detail: str = "") -> None:
    """Exit here if ``$FOGSTRAT_CRASH_AT`` names ``point`` (or ``point:detail``)."""
    wanted = os.environ.get(CRASH_ENV)
    if wanted is None or wanted not in (point, f"{point}:{detail}"):
        return
    sys.stderr.write(f"fogstrat: crash point {wanted} reached: exiting\n")
    sys.stderr.flush()
    os._exit(EXIT_CODE)
