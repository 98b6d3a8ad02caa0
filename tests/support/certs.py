"""Throw-away X.509 material for TLS tests, made with the real ``openssl`` binary.

    ca = CertAuthority(tmp_path)
    server = ca.issue("server", ip="127.0.0.1")   # server.cert, server.key
    client = ca.issue("client")                   # for client-certificate auth
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    assert binary, "openssl is missing: hack/install-deps.sh installs it"
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class CertAuthority:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.crt"
        self.key = self.dir / "ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", str(self.key), "-out", str(self.cert), "-days", "2",
                 "-subj", "/CN=fogstrat test CA", cwd=self.dir)

    def issue(self, name: str, *, ip: str | None = None) -> Issued:
        """A certificate signed by this CA, for server and client use; ``ip`` as its SAN."""
        key, csr, cert = (self.dir / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        ext = self.dir / f"{name}.ext"
        san = f"subjectAltName=IP:{ip},DNS:localhost\n" if ip else ""
        ext.write_text(san + "extendedKeyUsage=serverAuth,clientAuth\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}", cwd=self.dir)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey",
                 str(self.key), "-CAcreateserial", "-out", str(cert), "-days", "2",
                 "-extfile", str(ext), cwd=self.dir)
        return Issued(cert, key)
