"""What a permission error names: the access and the key range to grant."""

from __future__ import annotations

import logging

import pytest

from controller.runtime.denials import Denials
from controller.store import PermissionDenied
from controller.store.keys import permission_scope


def test_the_scope_of_a_status_key_is_the_whole_status_prefix() -> None:
    assert permission_scope("/fogstrat/status/activestrategies/ns/a") == "/fogstrat/status/"
    assert permission_scope("/a/b/status/environments/ns/x") == "/a/b/status/"
    assert permission_scope("/fogstrat/leader") == "/fogstrat/leader"
    assert permission_scope("/fogstrat/strategies/ns/s") == "/fogstrat/strategies/ns/s"


def test_the_message_is_one_line_even_for_a_forged_key() -> None:
    exc = PermissionDenied("write", "/p/status/", "/p/status/environments/ns/x\nERROR forged")
    assert "\n" not in str(exc)
    assert str(exc).startswith("etcd permission denied: the etcd user needs write permission "
                               "on /p/status/ (refused on /p/status/environments/ns/x\\nERROR")


def test_each_missing_permission_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    denials = Denials(logging.getLogger("test.denials"))
    with caplog.at_level(logging.DEBUG, logger="test.denials"):
        for name in ("a", "b", "c"):
            denials.report(PermissionDenied("write", "/p/status/", f"/p/status/k/ns/{name}"),
                           "retrying")
        denials.report(PermissionDenied("read", "/p/", "/p/"), "listing")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2, errors
    assert "write permission on /p/status/" in errors[0] and "read permission" in errors[1]
    assert len(caplog.records) == 4  # the repeats are still there, at DEBUG


def test_an_endpoint_key_is_granted_for_all_endpoints() -> None:
    assert permission_scope("/a/endpoints/ns/x") == "/a/endpoints/"
