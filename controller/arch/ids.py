"""Deterministic FDU ids, so a restarted controller finds the FDUs it created.

Every entity replica is its own FDU (one instance each), with the descriptor id
``fs.<namespace>.<activestrategy>.<architecture>.<entity>.<replica>``. Dots cannot occur
in DNS-1123 labels, so the parts never run into each other. When the id would exceed
:data:`MAX_ID_LENGTH` the owner part (and if needed the entity) is replaced by a hash;
the owner prefix stays the same for all FDUs of one architecture, which lets undeploy
find leftovers of entities that are no longer in the spec.

The FDU uuid is what fog05 itself derives from the id when none is given
(``uuid5(6ba7b842-…, id)``); setting it explicitly lets every lookup use the uuid.

A descriptor pasted from fog05 carries its own ``id`` and ``uuid``. They cannot be used
as they are (every replica of every strategy needs its own FDU), so they become the base
of the derived ones: the user's id ends the descriptor id
(``fs.<owner>.<entity>.<replica>.<id>``) and the user's uuid is the namespace the
replica's uuid is derived in. Both stay deterministic, which adoption relies on.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_ID_LENGTH = 63
FOG05_FDU_NAMESPACE = uuid.UUID("6ba7b842-9dad-11d1-80b4-00c04fd430c8")
_PREFIX = "fs"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _digest(text: str, size: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


@dataclass(frozen=True)
class ArchitectureKey:
    """Which architecture of which ActiveStrategy: the owner of a set of FDUs."""

    namespace: str
    active_strategy: str
    architecture: str

    @property
    def owner(self) -> str:
        """The owner segment of every FDU id of this architecture."""
        plain = f"{self.namespace}.{self.active_strategy}.{self.architecture}"
        if len(plain) <= 40:
            return plain
        return "h" + _digest(plain, 16)

    @property
    def prefix(self) -> str:
        """Every FDU id of this architecture starts with this."""
        return f"{_PREFIX}.{self.owner}."

    def __str__(self) -> str:
        return f"{self.namespace}/{self.active_strategy}/{self.architecture}"


def fdu_id(key: ArchitectureKey, entity: str, replica: int, base: str | None = None) -> str:
    """The descriptor ``id`` of one entity replica; at most :data:`MAX_ID_LENGTH` long.

    ``base`` is the id the user's descriptor carries: it ends the id. When the whole is
    too long the entity name is shortened first, then the base replaced by its hash.
    """
    suffix = ""
    if base:
        suffix = "." + (_UNSAFE.sub("-", base).strip(".-") or _digest(base, 8))
    if len(key.prefix) + len(f"{entity}.{replica}") + len(suffix) <= MAX_ID_LENGTH:
        return f"{key.prefix}{entity}.{replica}{suffix}"
    if len(key.prefix) + 10 + len(str(replica)) + len(suffix) > MAX_ID_LENGTH:
        suffix = "." + _digest(base or "", 8)
    room = MAX_ID_LENGTH - len(key.prefix) - len(str(replica)) - 1 - len(suffix)
    short = entity[: max(room - 9, 1)] + "-" + _digest(entity, 8)
    return f"{key.prefix}{short}.{replica}{suffix}"


@functools.lru_cache(maxsize=1 << 16)
def fdu_uuid(descriptor_id: str, base: str | None = None) -> str:
    """The FDU uuid of a descriptor id: fog05's own derivation, or, when the user's
    descriptor carries a ``uuid`` (``base``), derived in that namespace instead
    (kept: every observation asks)."""
    namespace = FOG05_FDU_NAMESPACE
    if base:
        try:
            namespace = uuid.UUID(base)
        except ValueError:  # validation reports it; the id alone still derives one
            namespace = FOG05_FDU_NAMESPACE
    return str(uuid.uuid5(namespace, descriptor_id))


@dataclass(frozen=True)
class FduRef:
    """The derived ``id`` and ``uuid`` of one entity replica's FDU."""

    id: str
    uuid: str


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def replica_fdu(key: ArchitectureKey, entity: str, fdu: Mapping[str, Any],
                replica: int) -> FduRef:
    """The FDU of replica ``replica`` of ``entity`` whose descriptor template is ``fdu``."""
    did = fdu_id(key, entity, replica, _text(fdu.get("id")))
    return FduRef(did, fdu_uuid(did, _text(fdu.get("uuid"))))


def owns(key: ArchitectureKey, descriptor_id: str) -> bool:
    return descriptor_id.startswith(key.prefix)


#: the namespace of network and connection point uuids not derived from the user's own
NETWORK_NAMESPACE = uuid.UUID("0f6c7a52-3b0e-5d4b-9a57-6e7f0c2d1b10")


def _namespace(base: str | None) -> uuid.UUID:
    if base:
        try:
            return uuid.UUID(base)
        except ValueError:  # validation reports it
            pass
    return NETWORK_NAMESPACE


def network_uuid(key: ArchitectureKey, name: str, base: str | None = None) -> str:
    """The uuid of the architecture's network ``name``: one per ActiveStrategy and
    architecture, derived in the network's own ``uuid`` (``base``) when it gives one."""
    return str(uuid.uuid5(_namespace(base), f"{key.prefix}net.{name}"))


def cp_uuid(descriptor_id: str, cp_id: str, base: str | None = None) -> str:
    """The uuid of connection point ``cp_id`` of the replica whose FDU is
    ``descriptor_id`` (every replica has its own), in the point's own ``uuid`` if any."""
    return str(uuid.uuid5(_namespace(base), f"{descriptor_id}.cp.{cp_id}"))
