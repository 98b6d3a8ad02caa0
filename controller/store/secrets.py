"""The etcd password: from a file (or the environment), never from the command line.

A command line is visible to every local user (``ps``, ``/proc/PID/cmdline``); a file
readable only by the controller's user, or a mounted Kubernetes Secret, is not.
``--password`` still works, with a warning, for quick experiments.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

MAX_PASSWORD_BYTES = 4096
"""Far above any real password; a larger file is a wrong path, not a password."""

VISIBLE_WARNING = ("warning: --password on the command line is visible to every local user "
                   "(ps); use --password-file or FOGSTRAT_PASSWORD_FILE")


class PasswordFileError(ValueError):
    """The password file cannot be used; the message is one line and holds no secret."""


def read_password_file(path: str) -> str:
    """The file's content without its trailing line break."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PASSWORD_BYTES + 1)
    except OSError as exc:
        raise PasswordFileError(
            f"cannot read password file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PASSWORD_BYTES:
        raise PasswordFileError(
            f"password file {path} is larger than {MAX_PASSWORD_BYTES} bytes")
    try:
        text = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise PasswordFileError(f"password file {path} is not UTF-8 text") from None
    if not text:
        raise PasswordFileError(f"password file {path} is empty")
    return text


def etcd_password(args: argparse.Namespace) -> str | None:
    """The password to use: the password file wins over ``--password``/FOGSTRAT_PASSWORD."""
    path = getattr(args, "password_file", None)
    if path:
        return read_password_file(path)
    password: str | None = getattr(args, "password", None)
    return password


def password_on_command_line(argv: Sequence[str]) -> bool:
    return any(a == "--password" or a.startswith("--password=") for a in argv)
