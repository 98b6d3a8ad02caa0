"""Python plugin architectures, found by name in the entry-point group only.

A document says ``plugin: NAME``; the name is looked up among installed
``fogstrat.architectures`` entry points. A document can never name a module to import,
so writing documents does not grant code execution beyond what an admin installed.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from controller.arch.base import Architecture
from controller.arch.errors import PluginError

GROUP = "fogstrat.architectures"


def available_plugins() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def _entry_point(name: str) -> EntryPoint:
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        installed = ", ".join(available_plugins()) or "none"
        raise PluginError(
            f"no architecture plugin {name!r} is installed (installed: {installed})",
            operation="load_plugin",
        )
    return matches[0]


def load_plugin(name: str) -> type[Architecture]:
    """The Architecture subclass registered as ``name``; :class:`PluginError` otherwise."""
    ep = _entry_point(name)
    try:
        obj = ep.load()
    except Exception as exc:  # an installed but broken plugin must not crash the caller
        raise PluginError(
            f"plugin {name!r} ({ep.value}) failed to load: {exc}", operation="load_plugin"
        ) from exc
    if not (isinstance(obj, type) and issubclass(obj, Architecture)):
        raise PluginError(
            f"plugin {name!r} ({ep.value}) is not an Architecture subclass",
            operation="load_plugin",
        )
    return obj
