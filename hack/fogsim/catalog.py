"""fogsim's FDU catalog: descriptors by uuid, and the instances of each FDU.

Not locked itself: the engine's lock covers it.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from fogsim.errors import InUse, InvalidDescriptor, NotFound
from fogsim.fog05_compat import DescriptorError, validate_fdu

#: fog05 0.2's namespace for FDU uuids derived from the descriptor ``id``.
FDU_NAMESPACE = uuid.UUID("6ba7b842-9dad-11d1-80b4-00c04fd430c8")


def fdu_uuid_for(descriptor_id: str) -> str:
    """fog05's uuid for a descriptor without one: uuid5 of its ``id``."""
    return str(uuid.uuid5(FDU_NAMESPACE, descriptor_id))


def validate_descriptor(descriptor: Mapping[str, Any]) -> dict[str, Any]:
    """The descriptor as it would be stored (with uuid), or InvalidDescriptor."""
    if not isinstance(descriptor, Mapping):
        raise InvalidDescriptor("invalid FDU descriptor: must be a JSON object")
    desc = copy.deepcopy(dict(descriptor))
    try:
        validate_fdu(copy.deepcopy(desc))
    except DescriptorError as exc:
        raise InvalidDescriptor(f"invalid FDU descriptor: {exc}") from exc
    if not isinstance(desc.get("id"), str):
        raise InvalidDescriptor("invalid FDU descriptor: id must be a string")
    raw_uuid = desc.get("uuid")
    if raw_uuid:
        try:
            desc["uuid"] = str(uuid.UUID(str(raw_uuid)))
        except ValueError as exc:
            raise InvalidDescriptor(f"invalid FDU descriptor: bad uuid {raw_uuid!r}") from exc
    else:
        desc["uuid"] = fdu_uuid_for(desc["id"])
    command = desc.get("command")
    if desc.get("hypervisor") == "BARE" and isinstance(command, Mapping):
        binary = command.get("binary")
        if binary is not None and not str(binary).startswith("/"):
            raise InvalidDescriptor(
                f"invalid FDU descriptor: command.binary must be an absolute path, "
                f"got {binary!r}"
            )
    return desc


class Catalog:
    """The onboarded descriptors, and which instances each FDU has."""

    def __init__(self) -> None:
        self._fdus: dict[str, dict[str, Any]] = {}
        self._by_fdu: dict[str, dict[str, None]] = {}
        """FDU uuid -> its instance ids (in order), as fog05 keys them under the FDU, so a
        lookup does not scan every instance of a big fog."""

    def get(self, ref: str) -> dict[str, Any]:
        """The stored descriptor by uuid or by descriptor ``id``."""
        fdu = self._fdus.get(ref)
        if fdu is None:
            fdu = self._fdus.get(fdu_uuid_for(ref))
        if fdu is None:
            raise NotFound(f"FDU {ref} not found")
        return fdu

    def put(self, desc: dict[str, Any]) -> None:
        self._fdus[desc["uuid"]] = desc

    def remove(self, ref: str) -> str:
        """Offload an FDU; refused while it has instances."""
        uid = str(self.get(ref)["uuid"])
        users = list(self._by_fdu.get(uid, ()))
        if users:
            raise InUse(f"FDU {uid} has instances", users)
        del self._fdus[uid]
        return uid

    def uuids(self) -> list[str]:
        return list(self._fdus)

    def descriptors(self) -> Iterator[dict[str, Any]]:
        return iter(self._fdus.values())

    def instance_ids(self, uid: str) -> list[str]:
        return list(self._by_fdu.get(uid, ()))

    def add_instance(self, uid: str, iid: str) -> None:
        self._by_fdu.setdefault(uid, {})[iid] = None

    def drop_instance(self, uid: str, iid: str) -> None:
        users = self._by_fdu.get(uid)
        if users is not None:
            users.pop(iid, None)
            if not users:
                del self._by_fdu[uid]
