"""ActiveStrategy rules the schema cannot express: each architecture listed once, durations
a timer can take."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api.limits import excerpt
from controller.api.validation.common import (
    Sink,
    check_duration_bound,
    check_positive_duration,
)


def check_strategy(spec: Mapping[str, Any], sink: Sink) -> None:
    main = spec.get("main")
    seen: dict[str, str] = {}
    if isinstance(main, Mapping) and isinstance(main.get("architecture"), str):
        seen[main["architecture"]] = "the main architecture"
    replacements = spec.get("replacements")
    if isinstance(replacements, list):
        for index, ref in enumerate(replacements):
            if not isinstance(ref, Mapping) or not isinstance(ref.get("architecture"), str):
                continue
            name = ref["architecture"]
            if name in seen:
                sink.add(f"{excerpt(name)} repeats {seen[name]}", "replacements", index,
                         "architecture")
            else:
                seen[name] = f"replacements[{index}]"
    policy = spec.get("policy")
    if isinstance(policy, Mapping):
        check_positive_duration(policy, "deployTimeout", sink.at("policy"))
        failback = policy.get("failback")
        if isinstance(failback, Mapping):
            check_duration_bound(failback, "stabilizationWindow", sink.at("policy", "failback"))
