"""A real etcd serving TLS only, with authentication enabled, for security tests.

    with SecureEtcd(tmp_path) as etcd:
        etcd.add_user("ctl", "pw", role="fogstrat")
        etcd.grant("fogstrat", "readwrite", "/fogstrat/")

``root`` (password ``ROOT_PASSWORD``) administers it; ``etcdctl`` runs as root over TLS.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Self

from tests.support.certs import CertAuthority
from tests.support.etcd import EtcdServer

ROOT_PASSWORD = "root-secret-9f2c"


class SecureEtcd(EtcdServer):
    def __init__(self, directory: Path) -> None:
        self.ca = CertAuthority(directory / "pki")
        self.server_cert = self.ca.issue("etcd", ip="127.0.0.1")
        self._auth = False
        super().__init__(name="fogstrat-secure", data_dir=directory, extra_args=(
            "--cert-file", str(self.server_cert.cert), "--key-file", str(self.server_cert.key)))

    @property
    def client_url(self) -> str:
        return f"https://{self.endpoint}"

    def start(self) -> Self:
        super().start()
        if not self._auth:
            self.etcdctl("user", "add", f"root:{ROOT_PASSWORD}")
            self.etcdctl("auth", "enable")
            self._auth = True
        return self

    def etcdctl(self, *args: str | bytes, input: bytes | None = None, check: bool = True,
                timeout: float = 10.0) -> subprocess.CompletedProcess[bytes]:
        env = dict(os.environ, ETCDCTL_API="3")
        auth = [f"--user=root:{ROOT_PASSWORD}"] if self._auth else []
        return subprocess.run([self.etcdctl_bin, f"--endpoints={self.client_url}",
                               f"--cacert={self.ca.cert}", *auth, *args],
                              input=input, capture_output=True, check=check, timeout=timeout,
                              env=env)

    def add_user(self, name: str, password: str, *, role: str) -> None:
        self.etcdctl("role", "add", role, check=False)  # several users may share a role
        self.etcdctl("user", "add", f"{name}:{password}")
        self.etcdctl("user", "grant-role", name, role)

    def grant(self, role: str, access: str, key: str) -> None:
        """``access`` (read, write, readwrite) on ``key``, or on every key under it when it
        ends with "/"."""
        prefix = ["--prefix=true"] if key.endswith("/") else []
        self.etcdctl("role", "grant-permission", *prefix, role, access, key)
