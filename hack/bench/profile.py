"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) as markdown.

    python hack/bench/profile.py .bench/<run>/steady-1000.txt

Inclusive share: samples whose stack contains the function (counted once per stack).
Self share: samples where it is the innermost frame. Idle threads are not sampled
(py-spy without ``--idle``), so shares are of the busy time.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_ROOTS = ("site-packages/", "/main/")  # library code; the repository's own code


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``file.py:func``, with package context."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for root in _ROOTS:
        if root in path:
            path = path.rsplit(root, 1)[1]
            break
    else:
        if not path.startswith(("controller/", "hack/")):
            path = Path(path).name
    return f"{path}:{m.group('func')}"


def load(path: Path) -> tuple[Counter[str], Counter[str], int]:
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        # The first frame is the thread ("process 123:..." / "thread (0x..)"): skip it.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        self_[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    return inclusive, self_, total


def summary(path: Path, top: int = 25) -> str:
    inclusive, self_, total = load(path)
    if not total:
        return f"(no samples in {path.name})\n"
    out = [f"### {path.name}: {total} samples\n", "| inclusive | self | function |",
           "|---:|---:|---|"]
    for func, n in inclusive.most_common(top * 3):
        if not (func.startswith(("controller/", "hack/")) or self_[func] / total >= 0.02):
            continue
        out.append(f"| {100 * n / total:.1f}% | {100 * self_[func] / total:.1f}% | `{func}` |")
        if len(out) >= top + 3:
            break
    out += ["", "Top self time:", "", "| self | function |", "|---:|---|"]
    for func, n in self_.most_common(15):
        out.append(f"| {100 * n / total:.1f}% | `{func}` |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summary(Path(arg)))
