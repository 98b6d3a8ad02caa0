"""The one place fogsim touches ``fog05_sdk``.

``fog05_sdk`` 0.2.1 pins ``pyangbind==0.8.1``, which still uses the aliases
removed from :mod:`collections` in Python 3.10 (``collections.MutableSequence``
...). Every ``FDU(...)`` then fails with an unrelated ``TypeError``. We restore
the aliases before importing the SDK so the real fog05 YANG model validates the
descriptors, exactly as a fog05 0.2 agent would.
"""

from __future__ import annotations

from typing import Any

from controller.fog.fog05_compat import install_collections_shim

install_collections_shim()

try:
    from fog05_sdk.interfaces.FDU import FDU as _FDU
except ImportError as exc:  # pragma: no cover - depends on how fogstrat was installed
    raise SystemExit(
        "fogsim needs the fog05 SDK to validate descriptors: pip install 'fogstrat[fog05]'"
    ) from exc


class DescriptorError(ValueError):
    """The fog05 FDU model rejected a descriptor; ``str()`` is the reason."""


def validate_fdu(descriptor: dict[str, Any]) -> None:
    """Validate ``descriptor`` with fog05's own FDU model.

    Raises :class:`DescriptorError` with a readable reason. pyangbind reports
    type errors as a dict whose ``error-string`` is the useful part.
    """
    try:
        _FDU(descriptor)
    except Exception as exc:  # the model raises ValueError, TypeError, decimal errors...
        reason: Any = exc.args[0] if exc.args else type(exc).__name__
        if isinstance(reason, dict):
            reason = reason.get("error-string", reason)
        if not isinstance(reason, str) or not reason:
            reason = f"{type(exc).__name__}: {exc!r}"
        raise DescriptorError(reason) from exc
