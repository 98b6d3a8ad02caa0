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
import copy
import importlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from controller.fog.client import InvalidDescriptor, MissingLibrary

ZENOH_LIB_ENV = "FOGSTRAT_ZENOH_LIB"
#: set by the controller from the user's own: never the field at fault
_IDENTITY = ("id", "uuid", "name")
#: FDU.enforce's names of the fields it requires -> their descriptor paths
_REQUIRED = {
    "FDU.ID ": "id",
    "FDU.Name ": "name",
    "FDU.Computation_Requirements.CPU_Arch ": "computation_requirements.cpu_arch",
    "FDU.Hypervisor ": "hypervisor",
    "FDU.Migration_Kind ": "migration_kind",
}

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


DEFAULT_ZENOH_LIB = "/usr/local/lib/libzenohc.so"


def zenoh_lib_missing() -> str | None:
    """One line saying what is missing and where to put it, when zenoh 0.3's native
    library is not where zenoh will load it from; None when it is there. Nothing else
    tells: a package index ships zenoh's Python half only, and its own error is a bare
    ``cannot open shared object file``."""
    zenoh_api = importlib.import_module("zenoh.zenoh_api")
    path = str(getattr(zenoh_api, "zenoh_lib_path", "") or DEFAULT_ZENOH_LIB)
    if os.path.isfile(path):
        return None
    return (
        f"the native zenoh library is missing: no {path} (libzenohc.so of zenoh-c 0.3, "
        f"which no package index ships); build it and put it at {DEFAULT_ZENOH_LIB}, or "
        f"set {ZENOH_LIB_ENV} to where it is"
    )


def load_fog05(zenoh_lib: str | None = None) -> Any:
    """Import and return the ``fog05`` module (with the shim and zenoh path applied)."""
    install_collections_shim()
    try:
        fog05 = importlib.import_module("fog05")
    except ImportError as exc:
        raise MissingLibrary(
            f"the fog05 driver needs the fog05 extra (pip install 'fogstrat[fog05]'): {exc}",
            "Fog05ExtraMissing") from None
    set_zenoh_lib(zenoh_lib)
    return fog05


def _sdk(name: str) -> Any:
    install_collections_shim()
    return importlib.import_module(name)


def _one_line(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else None
    if isinstance(first, Mapping) and first.get("error-string"):
        return " ".join(str(first["error-string"]).split())
    if "ConversionSyntax" in str(exc):  # pyangbind's whole message for a decimal field
        return "must be a number"
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _decode_error(descriptor: Mapping[str, Any]) -> str | None:
    """What fog05's YANG model (the decoding half of ``FDU(...)``: types and enums) says
    about ``descriptor``, in one line; None if it decodes. Dropping a field never makes
    decoding fail, which is what lets :func:`_locate` search by dropping fields."""
    fdu_mod = _sdk("fog05_sdk.interfaces.FDU")
    try:
        fdu_mod.pybindJSONDecoder.load_ietf_json(
            {"fdu_descriptor": copy.deepcopy(dict(descriptor))}, None, None,
            obj=fdu_mod.user_fdu.user_fdu(), skip_unknown=True,
        )
    except Exception as exc:  # pyangbind raises ValueError/TypeError/KeyError/...
        return _one_line(exc)
    return None


def _without(value: Any, path: tuple[Any, ...], drop: Sequence[Any]) -> Any:
    """``value`` with the keys ``drop`` removed from the mapping at ``path`` (a copy)."""
    if not path:
        return {k: v for k, v in value.items() if k not in drop}
    head, *rest = path
    out = copy.copy(value)
    out[head] = _without(value[head], tuple(rest), drop)
    return out


def _only(value: Any, path: tuple[Any, ...], index: int) -> Any:
    """``value`` with the list at ``path`` cut down to its item ``index`` (a copy)."""
    if not path:
        return [value[index]]
    head, *rest = path
    out = copy.copy(value)
    out[head] = _only(value[head], tuple(rest), index)
    return out


def _get(value: Any, path: Sequence[Any]) -> Any:
    for part in path:
        value = value[part]
    return value


def _locate(doc: Any, path: tuple[Any, ...], shown: tuple[Any, ...]
            ) -> tuple[tuple[Any, ...], Any]:
    """The deepest field whose value alone makes the model reject ``doc``, and the
    (reduced) document in which it alone does. In a mapping, a key whose removal makes
    the document decode is at fault; failing one, keys are dropped one more at a time
    until it decodes (several faults: the last one dropped). A list's items are tried
    one by one. Bounded: a few model checks per field."""
    node = _get(doc, path)
    if isinstance(node, Mapping):
        keys = [k for k in node if path or k not in _IDENTITY]
        for key in keys:
            if _decode_error(_without(doc, path, [key])) is None:
                return _locate(doc, (*path, key), (*shown, key))
        for i, key in enumerate(keys):
            if _decode_error(_without(doc, path, keys[: i + 1])) is None:
                return _locate(_without(doc, path, keys[:i]), (*path, key), (*shown, key))
    elif isinstance(node, list):
        for i in range(len(node)):
            trial = _only(doc, path, i)
            if _decode_error(trial) is not None:
                return _locate(trial, (*path, 0), (*shown, i))
    return shown, doc


def _dotted(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def fdu_model_problem(descriptor: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(field path, fog05's message)`` when fog05's FDU model rejects ``descriptor``
    (the path is empty when no single field is at fault), else None."""
    error = _decode_error(descriptor)
    if error is not None:
        shown, reduced = _locate(dict(descriptor), (), ())
        return _dotted(shown), _decode_error(reduced) or error
    try:
        fdu_class()(copy.deepcopy(dict(descriptor)))
    except Exception as exc:  # FDU.enforce: a required field is empty
        text = _one_line(exc)
        field = next((path for name, path in _REQUIRED.items() if text.startswith(name)), "")
        return field, text
    return None


def fdu_from_descriptor(descriptor: dict[str, Any]) -> Any:
    """Validate a descriptor with fog05's YANG model; ``InvalidDescriptor`` if rejected."""
    problem = fdu_model_problem(descriptor)
    if problem is not None:
        where = f" at {problem[0]}" if problem[0] else ""
        raise InvalidDescriptor(
            f"FDU descriptor {descriptor.get('id')!r} rejected by fog05{where}: {problem[1]}"
        )
    return fdu_class()(descriptor)


def fdu_class() -> Any:
    return _sdk("fog05_sdk.interfaces.FDU").FDU


def infra_fdu_class() -> Any:
    return _sdk("fog05_sdk.interfaces.InfraFDU").InfraFDU
