"""Status records to and from their stored JSON, by one mechanism the fields describe.

Each field of a status record carries, in its ``dataclasses.field`` metadata (see
:func:`stored_as`), how it is kept: a codec that writes its JSON value and reads one back,
its JSON key (the field name in camelCase unless given) and whether it is left out when
None. :func:`write_record` and :func:`read_record` walk those fields: no status record
has JSON code of its own.

Reading is tolerant, as a stored status may be old, partial or hand-edited: a value a
codec cannot use is replaced by the field's fallback (given, or the field's default, or
the codec's empty value), and only an unusable ``required`` field makes the whole record
unusable (None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar

from controller.reconcile.json_values import EMPTY, thaw
from controller.reconcile.times import parse_time, rfc3339

__all__ = [
    "FLAG",
    "INT",
    "JSON_MAP",
    "NAME",
    "NAMES",
    "NAMES_MAP",
    "NUMBER_MAP",
    "OPT_COUNT",
    "OPT_NUMBER",
    "OPT_TIME",
    "TEXT",
    "TIME",
    "TIMES",
    "Codec",
    "choice",
    "json_key",
    "read_record",
    "record",
    "record_map",
    "records",
    "stored_as",
    "write_record",
]

_T = TypeVar("_T")


class _Unusable:
    """What a codec reads from a value it cannot use (or a key that is not there)."""

    def __repr__(self) -> str:
        return "UNUSABLE"


UNUSABLE: Any = _Unusable()


@dataclass(frozen=True)
class Codec:
    """How one kind of field is kept: ``dump`` (None: the value is its own JSON) and
    ``load``, which returns :data:`UNUSABLE` for a value it cannot take; ``empty`` is the
    fallback of a field that has no default of its own."""

    load: Callable[[Any], Any]
    dump: Callable[[Any], Any] | None = None
    empty: Any = UNUSABLE


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _load_text(raw: Any) -> Any:
    return UNUSABLE if raw is UNUSABLE else str(raw)


def _load_name(raw: Any) -> Any:
    return raw if isinstance(raw, str) else UNUSABLE


def _load_flag(raw: Any) -> Any:
    return UNUSABLE if raw is UNUSABLE else bool(raw)


def _load_int(raw: Any) -> Any:
    return int(raw) if _is_number(raw) else UNUSABLE


def _load_count(raw: Any) -> Any:
    return int(raw) if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else None


def _load_number(raw: Any) -> Any:
    return float(raw) if _is_number(raw) else UNUSABLE


def _load_time(raw: Any) -> Any:
    seconds = parse_time(raw)
    return UNUSABLE if seconds is None else seconds


def _dump_opt_time(seconds: float | None) -> str | None:
    return None if seconds is None else rfc3339(seconds)


def _load_times(raw: Any) -> Any:
    if not isinstance(raw, list):
        return UNUSABLE
    return tuple(seconds for seconds in map(parse_time, raw) if seconds is not None)


def _load_names(raw: Any) -> Any:
    return tuple(str(name) for name in raw) if isinstance(raw, list) else UNUSABLE


def _load_number_map(raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        return UNUSABLE
    # bool is an int: a stored true reads as 1.0, as it always has
    return {str(key): float(value) for key, value in raw.items()
            if isinstance(value, int | float)}


def _load_names_map(raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        return UNUSABLE
    return {str(key): tuple(str(name) for name in names) for key, names in raw.items()
            if isinstance(names, list | tuple)}


def _load_json_map(raw: Any) -> Any:
    return raw if isinstance(raw, Mapping) else UNUSABLE


TEXT = Codec(_load_text, empty="")
"""Any stored value, as text (``str`` of it)."""
NAME = Codec(_load_name, empty=None)
"""A stored string, nothing else (the optional names: ``from``, ``activeArchitecture``)."""
FLAG = Codec(_load_flag, empty=False)
INT = Codec(_load_int, empty=0)
OPT_NUMBER = Codec(_load_number, empty=None)
OPT_COUNT = Codec(_load_count, empty=None)
"""A positive count, or None (stored as nothing: use with ``omit_none``)."""
TIME = Codec(_load_time, rfc3339, empty=0.0)
"""Unix seconds inside, RFC 3339 text when stored; older numeric times read too."""
OPT_TIME = Codec(_load_time, _dump_opt_time, empty=None)
TIMES = Codec(_load_times, lambda times: [rfc3339(seconds) for seconds in times], empty=())
NAMES = Codec(_load_names, list, empty=())
NUMBER_MAP = Codec(_load_number_map, thaw, empty=EMPTY)
NAMES_MAP = Codec(_load_names_map, thaw, empty=EMPTY)
JSON_MAP = Codec(_load_json_map, thaw, empty=EMPTY)
"""Any JSON object, kept as it is (frozen by the record's ``__post_init__``)."""


def choice(values: tuple[str, ...]) -> Codec:
    """One of ``values`` (a Literal's ``get_args``); anything else is unusable."""
    return Codec(lambda raw: raw if raw in values else UNUSABLE, empty=None)


def record(cls: type[Any]) -> Codec:
    """A nested record, or None (stored as null)."""
    return Codec(lambda raw: read_record(cls, raw),
                 lambda value: None if value is None else write_record(value), empty=None)


def records(cls: type[Any]) -> Codec:
    """A tuple of records, stored as a list; items that are not objects are dropped."""
    def load(raw: Any) -> Any:
        if not isinstance(raw, list):
            return UNUSABLE
        return tuple(value for value in (read_record(cls, item) for item in raw)
                     if value is not None)
    return Codec(load, lambda values: [write_record(value) for value in values], empty=())


def _or_defaults(cls: type[_T], value: _T | None) -> _T:
    return cls() if value is None else value


def record_map(cls: type[Any]) -> Codec:
    """Records by name, stored as an object sorted by name; a value that is not an object
    reads as the record's defaults."""
    def load(raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            return UNUSABLE
        return {str(name): _or_defaults(cls, read_record(cls, item))
                for name, item in raw.items()}
    return Codec(load, lambda values: {name: write_record(value)
                                       for name, value in sorted(values.items())},
                 empty=EMPTY)


@dataclass(frozen=True)
class _Slot:
    """One field as the mechanism sees it (from its metadata, resolved once per class)."""

    name: str
    key: str
    load: Callable[[Any], Any]
    dump: Callable[[Any], Any] | None
    fallback: Any
    fallback_from: int | None
    """Position of the earlier field whose value, as read, is the fallback."""
    omit_none: bool
    required: bool


@dataclass(frozen=True)
class _Stored:
    codec: Codec
    key: str | None
    fallback: Any
    fallback_from: str | None
    omit_none: bool
    required: bool


def stored_as(codec: Codec, *, key: str | None = None, fallback: Any = UNUSABLE,
           fallback_from: str | None = None, omit_none: bool = False,
           required: bool = False) -> dict[str, Any]:
    """The metadata of a stored field: ``field(default=..., metadata=stored_as(TIME))``.

    ``fallback`` replaces an unusable value (default: the field's default, else the
    codec's empty value); ``fallback_from`` takes it from an earlier field as read.
    ``required``: without a usable value the whole record reads as None."""
    return {_META: _Stored(codec, key, fallback, fallback_from, omit_none, required)}


_META = "fogstrat.json"


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part.capitalize() for part in rest)


def _slot(field_: Any, positions: Mapping[str, int]) -> _Slot:
    spec: _Stored = field_.metadata[_META]
    fallback = spec.fallback
    if fallback is UNUSABLE:
        fallback = (field_.default if field_.default is not MISSING else
                    field_.default_factory() if field_.default_factory is not MISSING else
                    spec.codec.empty)
    earlier = None if spec.fallback_from is None else positions[spec.fallback_from]
    return _Slot(field_.name, spec.key or _camel(field_.name), spec.codec.load,
                 spec.codec.dump, fallback, earlier, spec.omit_none, spec.required)


_SLOTS: dict[type, tuple[_Slot, ...]] = {}


def _slots(cls: type) -> tuple[_Slot, ...]:
    slots = _SLOTS.get(cls)
    if slots is None:
        positions = {each.name: position for position, each in enumerate(fields(cls))}
        slots = _SLOTS[cls] = tuple(_slot(each, positions) for each in fields(cls))
    return slots


def json_key(cls: type, name: str) -> str:
    """The JSON key of field ``name`` of ``cls``."""
    return next(slot.key for slot in _slots(cls) if slot.name == name)


def write_record(instance: Any) -> dict[str, Any]:
    """The record ``instance`` as JSON, its keys in field order."""
    out: dict[str, Any] = {}
    values = instance.__dict__
    for slot in _slots(type(instance)):
        value = values[slot.name]
        if value is None and slot.omit_none:
            continue
        dump = slot.dump
        out[slot.key] = value if dump is None else dump(value)
    return out


def read_record(cls: type[_T], data: Any) -> _T | None:
    """A ``cls`` from stored JSON; None when ``data`` is not an object or a required
    field is unusable. Never raises for any JSON value."""
    if not isinstance(data, Mapping):
        return None
    get = data.get
    values: list[Any] = []  # in field order: passed by position, which is quicker
    for slot in _slots(cls):
        value = slot.load(get(slot.key, UNUSABLE))
        if value is UNUSABLE:
            if slot.required:
                return None
            value = (slot.fallback if slot.fallback_from is None
                     else values[slot.fallback_from])
        values.append(value)
    return cls(*values)
