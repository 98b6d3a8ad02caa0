"""Security: a real etcd with TLS and authentication, roles limited to the controller's
prefix, the password from a file (never on a command line), one clear line for a missing
permission, and /metrics, /healthz, /readyz behind TLS and basic auth."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import bcrypt
import pytest

from controller.health_server import HealthServer, Liveness
from controller.metrics import Metrics
from controller.webconfig import WebConfigError
from controller.webconfig import load as load_web_config
from tests.support.cli import Cli, Result
from tests.support.controller import ControllerProcess
from tests.support.etcd_secure import ROOT_PASSWORD, SecureEtcd
from tests.support.scenario import wait_for

T = TypeVar("T")
ENVIRONMENT = """apiVersion: fogstrat.io/v1alpha1
kind: Environment
metadata: {name: lab}
spec: {driver: fogsim, locator: "http://127.0.0.1:1", timeout: 2s}
"""
CTL_PASSWORD = "ctl-secret-41d7"
SCRAPE_PASSWORD = "scrape-secret-8e1a"


@dataclass
class Secure:
    etcd: SecureEtcd
    dir: Path

    def password_file(self, name: str, password: str) -> Path:
        path = self.dir / f"{name}.password"
        path.write_text(password + "\n")
        path.chmod(0o600)
        return path

    def cli(self, prefix: str, user: str = "root", password: str = ROOT_PASSWORD) -> Cli:
        cli = Cli(self.etcd.client_url, prefix)
        cli.env.update(FOGSTRAT_CACERT=str(self.etcd.ca.cert), FOGSTRAT_USER=user,
                       FOGSTRAT_PASSWORD_FILE=str(self.password_file(user, password)))
        return cli

    def controller(self, prefix: str, user: str, web_config: Path) -> ControllerProcess:
        return ControllerProcess(self.etcd.client_url, prefix, lease_ttl=3, extra_args=(
            "--cacert", str(self.etcd.ca.cert), "--user", user,
            "--password-file", str(self.password_file(user, CTL_PASSWORD)),
            "--web-config-file", str(web_config)))

    def web_config(self) -> Path:
        server = self.etcd.ca.issue("metrics", ip="127.0.0.1")
        hashed = bcrypt.hashpw(SCRAPE_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        path = self.dir / "web.yaml"
        path.write_text(f"tls_server_config:\n  cert_file: {server.cert.name}\n"
                        f"  key_file: {server.key.name}\n"
                        f"basic_auth_users:\n  prometheus: '{hashed}'\n")
        for f in (server.cert, server.key):  # relative paths: next to the web config
            (self.dir / f.name).write_bytes(f.read_bytes())
        return path


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    directory = tmp_path_factory.mktemp("secure-etcd")
    with SecureEtcd(directory) as etcd:
        yield Secure(etcd, directory)


@contextmanager
def started(ctl: ControllerProcess) -> Iterator[ControllerProcess]:
    """Start without the plain-HTTP wait (its endpoint speaks TLS); always stop it."""
    ctl.start(wait=False)
    try:
        yield ctl
    finally:
        ctl.stop()



def https(url: str, ca: Path, auth: tuple[str, str] | None) -> tuple[int, str]:
    """(status, body); (0, error) when no HTTP answer came."""
    req = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def status_of(cli: Cli, kind: str, name: str) -> dict[str, Any] | None:
    res = cli.run("get", kind, name, "-o", "json")
    if res.rc != 0:
        return None
    status: dict[str, Any] | None = json.loads(res.out).get("status")
    return status


def test_controller_with_a_role_limited_to_its_prefix(secure: Secure, prefix: str) -> None:
    etcd = secure.etcd
    etcd.add_user("ctl", CTL_PASSWORD, role="fogstrat")
    etcd.grant("fogstrat", "readwrite", prefix + "/")
    root = secure.cli(prefix)
    root.ok("apply", "-f", "-", stdin=ENVIRONMENT)
    web = secure.web_config()
    ca = etcd.ca.cert
    with started(secure.controller(prefix, "ctl", web)) as ctl:
        base = f"https://127.0.0.1:{ctl.port}"
        good = ("prometheus", SCRAPE_PASSWORD)
        try:
            wait_for(lambda: https(base + "/readyz", ca, good)[0] == 200, 30, "/readyz over TLS",
                 ctl.log_tail)
            wait_for(lambda: status_of(root, "env", "lab"), 30, "a status written as ctl",
                 ctl.log_tail)
            status, body = https(base + "/metrics", ca, good)
            assert status == 200 and "fogstrat_leader 1.0" in body
            assert https(base + "/metrics", ca, ("prometheus", "wrong"))[0] == 401
            assert https(base + "/healthz", ca, None)[0] == 401
            assert https(base + "/readyz", ca, ("nobody", SCRAPE_PASSWORD))[0] == 401
            plain = f"http://127.0.0.1:{ctl.port}/healthz"
            with pytest.raises((urllib.error.URLError, OSError)):
                urllib.request.urlopen(plain, timeout=5).read()
            assert ctl.pid is not None
            cmdline = Path(f"/proc/{ctl.pid}/cmdline").read_bytes()
            assert CTL_PASSWORD.encode() not in cmdline
        except BaseException:
            print("---- controller log\n" + ctl.log_tail(60))
            raise
    log = ctl.log_path.read_text()
    assert CTL_PASSWORD not in log and SCRAPE_PASSWORD not in log
    assert "Traceback" not in log


def test_a_role_without_write_on_status_is_one_clear_line(secure: Secure, prefix: str) -> None:
    etcd = secure.etcd
    etcd.add_user("nostatus", CTL_PASSWORD, role="nostatus")
    etcd.grant("nostatus", "read", prefix + "/")
    etcd.grant("nostatus", "readwrite", prefix + "/leader")
    root = secure.cli(prefix)
    for name in ("lab", "lab2", "lab3"):
        root.ok("apply", "-f", "-", stdin=ENVIRONMENT.replace("name: lab", f"name: {name}"))
    needs = f"needs write permission on {prefix}/status/"
    with started(secure.controller(prefix, "nostatus", secure.web_config())) as ctl:
        try:
            wait_for(lambda: needs in ctl.log_path.read_text(), 30, "the permission line",
                 ctl.log_tail)
            # Every object keeps being retried with backoff: give it several attempts.
            time.sleep(8)
            status, body = https(f"https://127.0.0.1:{ctl.port}/readyz", etcd.ca.cert,
                                 ("prometheus", SCRAPE_PASSWORD))
            assert status == 200, body  # etcd serves it; only the grant is missing
        except BaseException:
            print("---- controller log\n" + ctl.log_tail(60))
            raise
    log = ctl.log_path.read_text()
    assert "Traceback" not in log
    lines = [ln for ln in log.splitlines() if "permission denied" in ln]
    assert len(lines) == 1, "\n".join(lines)
    assert needs in lines[0] and "ERROR" in lines[0], lines[0]
    assert status_of(root, "env", "lab") is None  # and nothing was written


def test_a_role_without_read_on_the_prefix_is_one_clear_line(secure: Secure,
                                                             prefix: str) -> None:
    etcd = secure.etcd
    etcd.add_user("noread", CTL_PASSWORD, role="noread")
    etcd.grant("noread", "readwrite", prefix + "/leader")
    needs = f"needs read permission on {prefix}/"
    with started(secure.controller(prefix, "noread", secure.web_config())) as ctl:
        try:
            wait_for(lambda: needs in ctl.log_path.read_text(), 30, "the permission line",
                 ctl.log_tail)
            time.sleep(5)  # the informer retries the list with backoff meanwhile
            status, body = https(f"https://127.0.0.1:{ctl.port}/readyz", etcd.ca.cert,
                                 ("prometheus", SCRAPE_PASSWORD))
            assert status == 503 and "permission" in body, body  # it sees no document
        except BaseException:
            print("---- controller log\n" + ctl.log_tail(60))
            raise
    log = ctl.log_path.read_text()
    assert "Traceback" not in log
    lines = [ln for ln in log.splitlines() if "permission denied" in ln]
    assert len(lines) == 1 and needs in lines[0], "\n".join(lines)


def test_the_password_never_needs_the_command_line(secure: Secure, prefix: str) -> None:
    cli = secure.cli(prefix)
    assert cli.run("get", "env").rc == 0  # FOGSTRAT_PASSWORD_FILE
    visible = cli.run("get", "env", "--password", ROOT_PASSWORD)
    assert visible.rc == 0 and "visible to every local user" in visible.err
    env = {k: v for k, v in cli.env.items() if k != "FOGSTRAT_PASSWORD_FILE"}
    cli.env = {**env, "FOGSTRAT_PASSWORD": ROOT_PASSWORD}  # the environment still works
    assert cli.run("get", "env").rc == 0
    wrong = secure.cli(prefix, password="not-it").run("get", "env")
    missing = secure.cli(prefix).run("get", "env", "--password-file", "/nonexistent/pw")
    for res in (wrong, missing):
        one_line_error(res)
    assert "refused the credentials" in wrong.err
    assert "cannot read password file /nonexistent/pw" in missing.err


def one_line_error(res: Result) -> None:
    assert res.rc != 0 and res.err.startswith("error: ") and res.err.count("\n") == 1, res.err
    assert "Traceback" not in res.err


def test_health_server_with_tls_and_basic_auth(secure: Secure, tmp_path: Path) -> None:
    web = load_web_config(str(secure.web_config()))
    server = HealthServer(Metrics(), Liveness(), lambda: (True, "ok"), "127.0.0.1:0", web)
    with server:
        assert server.url.startswith("https://")
        ca = secure.etcd.ca.cert
        good = ("prometheus", SCRAPE_PASSWORD)
        for path in ("/metrics", "/healthz", "/readyz"):
            assert https(server.url + path, ca, good)[0] == 200, path
            assert https(server.url + path, ca, ("prometheus", "nope"))[0] == 401, path
            assert https(server.url + path, ca, None)[0] == 401, path
        with pytest.raises((urllib.error.URLError, OSError)):
            urllib.request.urlopen(server.url.replace("https", "http") + "/healthz",
                                   timeout=5).read()
        assert https(server.url + "/healthz", ca, good)[0] == 200  # still serving


def test_health_server_asking_for_client_certificates(secure: Secure, tmp_path: Path) -> None:
    ca = secure.etcd.ca
    server, client = ca.issue("metrics-mtls", ip="127.0.0.1"), ca.issue("scraper")
    path = tmp_path / "web.yaml"
    path.write_text(f"tls_server_config:\n  cert_file: {server.cert}\n  key_file: {server.key}\n"
                    f"  client_ca_file: {ca.cert}\n")
    with HealthServer(Metrics(), Liveness(), None, "127.0.0.1:0",
                      load_web_config(str(path))) as hs:
        ctx = ssl.create_default_context(cafile=str(ca.cert))
        with pytest.raises((urllib.error.URLError, OSError)):
            urllib.request.urlopen(hs.url + "/healthz", timeout=5, context=ctx).read()
        ctx.load_cert_chain(str(client.cert), str(client.key))
        with urllib.request.urlopen(hs.url + "/healthz", timeout=5, context=ctx) as resp:
            assert resp.status == 200


@pytest.mark.parametrize(("text", "message"), [
    ("tls_server_config: {cert_file: a.crt}\n", "needs cert_file and key_file"),
    ("tls_server_config: {cert_file: a, key_file: b, cipher_suites: [x]}\n",
     "unsupported setting(s) cipher_suites"),
    ("http_server_config: {http2: false}\n", "unsupported setting(s) http_server_config"),
    ("basic_auth_users: {u: plaintext}\n", "basic_auth_users.u: not a bcrypt hash"),
    ("tls_server_config: {cert_file: a, key_file: b, client_auth_type: "
     "RequireAndVerifyClientCert}\n", "needs client_ca_file"),
    ("- a list\n", "must be a mapping"),
])
def test_a_web_config_that_cannot_be_enforced_is_refused(tmp_path: Path, text: str,
                                                         message: str) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(text)
    with pytest.raises(WebConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_web_config(str(path))
    with pytest.raises(WebConfigError, match="cannot read web config"):
        load_web_config(str(tmp_path / "missing.yaml"))


def test_the_controller_refuses_a_web_config_it_cannot_use(tmp_path: Path) -> None:
    cli = Cli("127.0.0.1:1", "/unused")
    bad = tmp_path / "web.yaml"
    bad.write_text("tls_server_config: {cert_file: gone.crt, key_file: gone.key}\n")
    for path, message in ((tmp_path / "missing.yaml", "cannot read web config"),
                          (bad, f"cannot load TLS certificate {tmp_path}/gone.crt")):
        res = cli.run("controller", "--metrics-addr", "127.0.0.1:0",
                      "--web-config-file", str(path))
        one_line_error(res)
        assert message in res.err, res.err
