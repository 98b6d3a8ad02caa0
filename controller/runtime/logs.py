"""Log set-up: one line per record, as text for people or JSON for collectors.

Messages carry text from documents and etcd keys, which anyone with write access to the
prefix chooses: control characters in a message are escaped (a newline in a key must not
forge a second log line) and a message is cut at a fixed length, here in the formatter
rather than at every call site.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
MAX_MESSAGE_CHARS = 4096


def escape(text: str) -> str:
    """``text`` on one line: control characters as escapes, at most MAX_MESSAGE_CHARS."""
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"… ({len(text)} characters)"
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class TextFormatter(logging.Formatter):
    """``time LEVEL message``, the message escaped; a traceback (a bug, never bad input)
    follows on its own lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": escape(record.getMessage()),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(fmt: str = "text", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "grpc", "pyetcd"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
