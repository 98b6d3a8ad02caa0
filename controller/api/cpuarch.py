"""CPU architecture names: one spelling per architecture.

The same CPU goes by several names depending on who reports it (``uname -m`` says
``aarch64``, Debian and Docker say ``arm64``; ``x86_64`` is ``amd64`` to them). fog05
copies whatever its node reports, and users copy whatever their distribution says, so
every comparison of two architecture names goes through :func:`normalize_arch`.
"""

from __future__ import annotations

#: alias -> canonical name (the ``uname -m`` spelling of 64-bit CPUs, ``arm`` for 32-bit ARM).
ARCH_ALIASES: dict[str, str] = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "x86-64": "x86_64",
    "arm64": "aarch64",
    "armv8": "aarch64",
    "armv7l": "arm",
    "armv7": "arm",
    "armhf": "arm",
    "armel": "arm",
    "armv6l": "arm",
    "i686": "x86",
    "i386": "x86",
}


def normalize_arch(arch: str) -> str:
    """The canonical name of ``arch`` (case and surrounding space ignored)."""
    name = arch.strip().lower()
    return ARCH_ALIASES.get(name, name)


def same_arch(a: str, b: str) -> bool:
    """Whether two architecture names denote the same CPU architecture."""
    return normalize_arch(a) == normalize_arch(b)
