"""TLS and basic auth for ``/metrics``, ``/healthz`` and ``/readyz``, configured in the
web-config file format of Prometheus and its exporters (``--web-config-file``)::

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_ca_file: ca.crt            # optional: then clients must present a certificate
      client_auth_type: RequireAndVerifyClientCert   # the default when client_ca_file is set
      min_version: TLS12                # optional: TLS12 (default) or TLS13
    basic_auth_users:
      prometheus: $2b$12$...            # bcrypt hash (htpasswd -nBC 12 "" | tr -d ':\\n')

Relative paths are relative to the file's directory, as in Prometheus. Settings this
server does not implement are an error, not silently ignored: a reader of the file must
be able to trust that what it says is enforced.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

_TLS_KEYS = frozenset({"cert_file", "key_file", "client_ca_file", "client_auth_type",
                       "min_version"})
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
MAX_FILE_BYTES = 1024 * 1024


class WebConfigError(ValueError):
    """The web config cannot be used; one line naming the file and the setting."""


@dataclass(frozen=True)
class TlsSettings:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth: ssl.VerifyMode = ssl.CERT_NONE
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = self.min_version
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"cannot load TLS certificate {self.cert_file} with key "
                                 f"{self.key_file}: {exc.strerror or exc}") from None
        if self.client_ca_file is not None:
            try:
                ctx.load_verify_locations(self.client_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise WebConfigError(f"cannot load client CA {self.client_ca_file}: "
                                     f"{exc.strerror or exc}") from None
        ctx.verify_mode = self.client_auth
        return ctx


@dataclass
class WebConfig:
    tls: TlsSettings | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    # user -> SHA-256 of the last password that matched: bcrypt is slow on purpose, and a
    # scraper sends the same password every few seconds.
    _verified: dict[str, bytes] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header satisfies ``basic_auth_users`` (if any)."""
        if not self.users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, sep, password = base64.b64decode(header[6:], validate=True).decode(
                "utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if not sep or hashed is None:
            return False
        digest = hashlib.sha256(password.encode()).digest()
        with self._lock:
            known = self._verified.get(user)
        if known is not None and hmac.compare_digest(known, digest):
            return True
        if not bcrypt.checkpw(password.encode(), hashed):
            return False
        with self._lock:
            self._verified[user] = digest
        return True


def _path(base: Path, value: Any, name: str) -> Path:
    if not isinstance(value, str) or not value:
        raise WebConfigError(f"tls_server_config.{name} must be a file path")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _tls(base: Path, raw: Any) -> TlsSettings:
    if not isinstance(raw, dict):
        raise WebConfigError("tls_server_config must be a mapping")
    unknown = sorted(set(raw) - _TLS_KEYS)
    if unknown:
        raise WebConfigError(f"tls_server_config: unsupported setting(s) {', '.join(unknown)}")
    if "cert_file" not in raw or "key_file" not in raw:
        raise WebConfigError("tls_server_config needs cert_file and key_file")
    ca = _path(base, raw["client_ca_file"], "client_ca_file") if "client_ca_file" in raw else None
    auth_name = raw.get("client_auth_type",
                        "RequireAndVerifyClientCert" if ca is not None else "NoClientCert")
    if auth_name not in _CLIENT_AUTH:
        raise WebConfigError(f"tls_server_config.client_auth_type {auth_name!r}: expected "
                             f"one of {', '.join(_CLIENT_AUTH)}")
    if _CLIENT_AUTH[auth_name] != ssl.CERT_NONE and ca is None:
        raise WebConfigError(f"client_auth_type {auth_name} needs client_ca_file")
    version = raw.get("min_version", "TLS12")
    if version not in _VERSIONS:
        raise WebConfigError(f"tls_server_config.min_version {version!r}: expected TLS12 "
                             "or TLS13")
    return TlsSettings(_path(base, raw["cert_file"], "cert_file"),
                       _path(base, raw["key_file"], "key_file"), ca, _CLIENT_AUTH[auth_name],
                       _VERSIONS[version])


def _users(raw: Any) -> dict[str, bytes]:
    if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise WebConfigError("basic_auth_users must map user names to bcrypt hashes")
    for user, hashed in raw.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise WebConfigError(f"basic_auth_users.{user}: not a bcrypt hash")
    return {user: hashed.encode() for user, hashed in raw.items()}


def load(path: str) -> WebConfig:
    """Read and check a web-config file; :class:`WebConfigError` when it cannot be used."""
    file = Path(path)
    try:
        with open(file, "rb") as f:
            text = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise WebConfigError(f"cannot read web config {path}: {exc.strerror or exc}") from None
    if len(text) > MAX_FILE_BYTES:
        raise WebConfigError(f"web config {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise WebConfigError(f"web config {path} is not YAML: {' '.join(str(exc).split())}"
                             ) from None
    if not isinstance(raw, dict):
        raise WebConfigError(f"web config {path} must be a mapping")
    unknown = sorted(set(raw) - {"tls_server_config", "basic_auth_users"})
    if unknown:
        raise WebConfigError(f"web config {path}: unsupported setting(s) {', '.join(unknown)}")
    try:
        tls = _tls(file.parent, raw["tls_server_config"]) if "tls_server_config" in raw else None
        users = _users(raw["basic_auth_users"]) if "basic_auth_users" in raw else {}
    except WebConfigError as exc:
        raise WebConfigError(f"web config {path}: {exc}") from None
    return WebConfig(tls, users)
