"""Run the real ``fogstrat`` console script as a subprocess, as users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FOGSTRAT = str(Path(sys.executable).with_name("fogstrat"))


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """``fogstrat`` bound to one etcd endpoint and key prefix."""

    def __init__(self, endpoint: str, prefix: str) -> None:
        self.env = {**os.environ, "FOGSTRAT_ETCD_ENDPOINTS": endpoint, "FOGSTRAT_PREFIX": prefix}

    def run(self, *args: str, stdin: str | None = None, timeout: float = 30) -> Result:
        proc = subprocess.run([FOGSTRAT, *args], input=stdin, capture_output=True, text=True,
                              env=self.env, timeout=timeout, check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> Result:
        res = self.run(*args, stdin=stdin)
        assert res.rc == 0, f"fogstrat {' '.join(args)} failed ({res.rc}): {res.err}"
        return res

    def get_json(self, kind: str, name: str | None = None, namespace: str = "default") -> Any:
        args = ["get", kind, *([name] if name else []), "-n", namespace, "-o", "json"]
        return self.ok(*args).json()
