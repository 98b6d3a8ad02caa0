"""Deterministic FDU ids, so a restarted controller finds the FDUs it created.

Every entity replica is its own FDU (one instance each), with the descriptor id
``fs.<namespace>.<activestrategy>.<architecture>.<entity>.<replica>``. Dots cannot occur
in DNS-1123 labels, so the parts never run into each other. When the id would exceed
:data:`MAX_ID_LENGTH` the owner part (and if needed the entity) is replaced by a hash;
the owner prefix stays the same for all FDUs of one architecture, which lets undeploy
find leftovers of entities that are no longer in the spec.

The FDU uuid is what fog05 itself derives from the id when none is given
(``uuid5(6ba7b842-…, id)``); setting it explicitly lets every lookup use the uuid.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass

MAX_ID_LENGTH = 63
FOG05_FDU_NAMESPACE = uuid.UUID("6ba7b842-9dad-11d1-80b4-00c04fd430c8")
_PREFIX = "fs"


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


def fdu_id(key: ArchitectureKey, entity: str, replica: int) -> str:
    """The descriptor ``id`` of one entity replica; at most :data:`MAX_ID_LENGTH` long."""
    tail = f"{entity}.{replica}"
    full = key.prefix + tail
    if len(full) <= MAX_ID_LENGTH:
        return full
    room = MAX_ID_LENGTH - len(key.prefix) - len(str(replica)) - 1
    short = entity[: max(room - 9, 1)] + "-" + _digest(entity, 8)
    return f"{key.prefix}{short}.{replica}"


@functools.lru_cache(maxsize=1 << 16)
def fdu_uuid(descriptor_id: str) -> str:
    """The FDU uuid fog05 assigns to a descriptor id (kept: every observation asks)."""
    return str(uuid.uuid5(FOG05_FDU_NAMESPACE, descriptor_id))


def owns(key: ArchitectureKey, descriptor_id: str) -> bool:
    return descriptor_id.startswith(key.prefix)
