"""What an architecture created on the fog, in a form the reconciler persists in etcd.

The record is a cache, not the truth: the FDU ids are deterministic and the fog is
re-read on every deploy/undeploy/observe. It still matters because it carries the
random fog05 instance ids and where replicas went, which status shows to users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class ReplicaRecord:
    """One entity replica: its FDU, node, instance and last seen instance state."""

    fdu_id: str
    fdu_uuid: str
    node_id: str | None = None
    node_name: str | None = None
    node_ip: str | None = None
    instance_id: str | None = None
    state: str | None = None
    address: str | None = None
    """The instance's own address, where the fog reports one (not the node's)."""
    simulated: bool = False
    """The fog says nothing really runs for this instance (fogsim's non-BARE)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "fduId": self.fdu_id,
            "fduUuid": self.fdu_uuid,
            "node": self.node_id,
            "nodeName": self.node_name,
            "nodeIp": self.node_ip,
            "instanceId": self.instance_id,
            "state": self.state,
            **({"address": self.address} if self.address else {}),
            **({"simulated": True} if self.simulated else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplicaRecord:
        def opt(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            fdu_id=str(data["fduId"]),
            fdu_uuid=str(data["fduUuid"]),
            node_id=opt("node"),
            node_name=opt("nodeName"),
            node_ip=opt("nodeIp"),
            instance_id=opt("instanceId"),
            state=opt("state"),
            address=opt("address"),
            simulated=data.get("simulated") is True,
        )


@dataclass
class ArchitectureRecord:
    """entity → replica index → :class:`ReplicaRecord`, plus the lifecycle state."""

    state: str = "new"
    entities: dict[str, dict[int, ReplicaRecord]] = field(default_factory=dict)

    def get(self, entity: str, replica: int) -> ReplicaRecord | None:
        return self.entities.get(entity, {}).get(replica)

    def put(self, entity: str, replica: int, rec: ReplicaRecord) -> None:
        self.entities.setdefault(entity, {})[replica] = rec

    def update(self, entity: str, replica: int, **changes: Any) -> ReplicaRecord:
        current = self.entities[entity][replica]
        new = replace(current, **changes)
        self.entities[entity][replica] = new
        return new

    def drop(self, entity: str, replica: int) -> None:
        reps = self.entities.get(entity, {})
        reps.pop(replica, None)
        if not reps:
            self.entities.pop(entity, None)

    def replicas(self, entity: str) -> list[ReplicaRecord]:
        return [rec for _i, rec in sorted(self.entities.get(entity, {}).items())]

    def placement(self) -> dict[str, list[str | None]]:
        """entity → node names of its replicas, as status shows it."""
        return {
            ent: [r.node_name or r.node_id for r in self.replicas(ent)]
            for ent in sorted(self.entities)
        }

    def instance_ids(self) -> dict[str, list[str | None]]:
        return {ent: [r.instance_id for r in self.replicas(ent)] for ent in sorted(self.entities)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable (string keys only)."""
        out: dict[str, Any] = {
            "state": self.state,
            "entities": {
                ent: {str(i): rec.to_dict() for i, rec in sorted(reps.items())}
                for ent, reps in sorted(self.entities.items())
            },
        }
        simulated = self.simulated_entities()
        if simulated:
            out["simulated"] = simulated
        return out

    def simulated_entities(self) -> list[str]:
        """Entities with a replica the fog only simulates (no process runs for it)."""
        return sorted(e for e, reps in self.entities.items()
                      if any(r.simulated for r in reps.values()))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchitectureRecord:
        entities = {
            str(ent): {int(i): ReplicaRecord.from_dict(rec) for i, rec in reps.items()}
            for ent, reps in (data.get("entities") or {}).items()
        }
        return cls(state=str(data.get("state") or "new"), entities=entities)
