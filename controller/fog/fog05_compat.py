"""The one place fogstrat imports fog05 (and, through it, fog05_sdk/pyangbind/yaks/zenoh).

* ``fog05_sdk`` 0.2.1 pins ``pyangbind==0.8.1``, which uses the ``collections`` aliases
  removed in Python 3.10; without them every ``FDU(...)`` fails with an unrelated
  ``TypeError``. The aliases are restored before the SDK is imported.
* zenoh 0.3 loads ``/usr/local/lib/libzenohc.so`` when a session opens; ``FOGSTRAT_ZENOH_LIB``
  (or the ``zenoh_lib`` argument) overrides the path.
* Everything is imported lazily so ``controller`` works without the ``fog05`` extra.

fog05 is untyped; values crossing this edge are ``Any``.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib
import os
from typing import Any

from controller.fog.client import FogError, InvalidDescriptor

ZENOH_LIB_ENV = "FOGSTRAT_ZENOH_LIB"

_ALIASES = (
    "Callable",
    "Hashable",
    "Iterable",
    "Mapping",
    "MutableMapping",
    "MutableSequence",
    "MutableSet",
    "Sequence",
    "Set",
    "Sized",
)


def install_collections_shim() -> None:
    """Restore the pre-3.10 ``collections`` ABC aliases pyangbind 0.8.1 needs."""
    for name in _ALIASES:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


def set_zenoh_lib(path: str | None = None) -> None:
    """Point zenoh 0.3 at its native library (argument, else ``$FOGSTRAT_ZENOH_LIB``)."""
    path = path or os.environ.get(ZENOH_LIB_ENV)
    if not path:
        return
    zenoh_api = importlib.import_module("zenoh.zenoh_api")
    zenoh_api.zenoh_lib_path = path  # type: ignore[attr-defined]


def load_fog05(zenoh_lib: str | None = None) -> Any:
    """Import and return the ``fog05`` module (with the shim and zenoh path applied)."""
    install_collections_shim()
    try:
        fog05 = importlib.import_module("fog05")
    except ImportError as exc:
        raise FogError(
            f"the fog05 driver needs the fog05 extra (pip install 'fogstrat[fog05]'): {exc}"
        ) from None
    set_zenoh_lib(zenoh_lib)
    return fog05


def _sdk(name: str) -> Any:
    install_collections_shim()
    return importlib.import_module(name)


def fdu_from_descriptor(descriptor: dict[str, Any]) -> Any:
    """Validate a descriptor with fog05's YANG model; ``InvalidDescriptor`` if rejected."""
    fdu_mod = _sdk("fog05_sdk.interfaces.FDU")
    try:
        return fdu_mod.FDU(descriptor)
    except Exception as exc:  # pyangbind raises ValueError/TypeError/KeyError/...
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InvalidDescriptor(
            f"FDU descriptor {descriptor.get('id')!r} rejected by fog05: {detail}"
        ) from None


def fdu_class() -> Any:
    return _sdk("fog05_sdk.interfaces.FDU").FDU


def infra_fdu_class() -> Any:
    return _sdk("fog05_sdk.interfaces.InfraFDU").InfraFDU
