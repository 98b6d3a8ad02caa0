"""The etcd password file (controller.store.secrets)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from controller.store.secrets import (
    MAX_PASSWORD_BYTES,
    PasswordFileError,
    etcd_password,
    password_on_command_line,
    read_password_file,
)


def test_the_file_holds_the_password_and_one_line_break(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_bytes(b"s3cret with spaces \r\n")
    assert read_password_file(str(f)) == "s3cret with spaces "
    args = argparse.Namespace(password="from-flag", password_file=str(f))
    assert etcd_password(args) == "s3cret with spaces "  # the file wins
    assert etcd_password(argparse.Namespace(password="p", password_file=None)) == "p"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"\n", "is empty"),
    (b"\xff\xfe", "is not UTF-8"),
    (b"x" * (MAX_PASSWORD_BYTES + 1), f"larger than {MAX_PASSWORD_BYTES} bytes"),
])
def test_an_unusable_file_is_one_line_without_its_content(tmp_path: Path, content: bytes,
                                                           message: str) -> None:
    f = tmp_path / "pw"
    f.write_bytes(content)
    with pytest.raises(PasswordFileError, match=message) as info:
        read_password_file(str(f))
    assert "\n" not in str(info.value) and "xxxx" not in str(info.value)


def test_only_the_password_flag_itself_counts_as_visible() -> None:
    assert password_on_command_line(["get", "env", "--password", "x"])
    assert password_on_command_line(["get", "--password=x"])
    assert not password_on_command_line(["get", "--password-file", "/f"])
    assert not password_on_command_line(["get", "--password-file=/f"])
