"""Template syntax beyond a dotted path: quoted literals (escapes) and ``join``."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import templates
from controller.api.validation import validate
from controller.fog.client import InvalidDescriptor
from controller.fog.fog05_driver import encode_env

CONTEXT: dict[str, Any] = {
    "entities": {"peer": {"ip": "10.0.0.1", "ips": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]}},
    "params": {"port": 8090},
}


def render(text: str) -> str:
    return templates.render(text, CONTEXT)


@pytest.mark.parametrize(("text", "expected"), [
    ("{{ '{{' }} x {{ '}}' }}", "{{ x }}"),
    ('{{ "}}" }}', "}}"),
    ("""{{ '{"a":{"b":1}}' }}""", '{"a":{"b":1}}'),
    ("""{"port": {{ params.port }}, "x": {"y": 1{{ '}}' }}""", '{"port": 8090, "x": {"y": 1}}'),
    ("{{ entities.peer.ips }}", "10.0.0.1 10.0.0.2 10.0.0.3"),
    ("{{ entities.peer.ips | join(':') }}", "10.0.0.1:10.0.0.2:10.0.0.3"),
    ('{{entities.peer.ips|join(",")}}', "10.0.0.1,10.0.0.2,10.0.0.3"),
    ("{{ entities.peer.ips | join('') }}", "10.0.0.110.0.0.210.0.0.3"),
    ("{{ entities.peer.ip | join(':') }}", "10.0.0.1"),
])
def test_literals_and_join(text: str, expected: str) -> None:
    assert render(text) == expected


def test_literals_are_not_references() -> None:
    refs = templates.references("{{ '{{ entities.x.ip }}' }} {{ entities.peer.ips | join(':') }}")
    assert [(r.dotted, r.separator) for r in refs] == [("entities.peer.ips", ":")]


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": {"b": 1}}', r"unbalanced '}}' in .*; write a literal '{{' as {{ '{{' }} and '}}' as"),
    ("a {{ b", r"unbalanced '{{' in .*; write a literal '{{' as \{\{ '\{\{' \}\}"),
    ("{{ entities.peer.ips | upper }}", "unknown filter 'upper'.*the only filter is join"),
    ("{{ entities.peer.ips | join }}", r"join needs a quoted separator, e.g. join\(' '\)"),
    ("{{ entities peer }}", "malformed template '{{ entities peer }}'"),
    ("{{ 'open }}", "malformed template"),
])
def test_errors_say_how_to_fix(text: str, message: str) -> None:
    with pytest.raises(templates.TemplateError, match=message):
        templates.references(text)


def _arch(env: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
        "metadata": {"name": "a"},
        "spec": {"entities": [{"name": "peer", "replicas": 2, "env": env,
                               "fdu": {"name": "p"}}]},
    }


def test_validation_accepts_an_escaped_json_env_value() -> None:
    assert validate(_arch({"CONF": """{{ '{"a":{"b":1}}' }}"""})) == []


def test_validation_reports_an_unescaped_one_with_the_escape() -> None:
    problems = [str(p) for p in validate(_arch({"CONF": '{"a":{"b":1}}'}))]
    assert len(problems) == 1
    assert problems[0].startswith("spec.entities[0].env.CONF: unbalanced '}}'")
    assert "{{ '}}' }}" in problems[0]


def test_validation_refuses_a_join_fog05_cannot_carry() -> None:
    problems = [str(p) for p in validate(_arch({"P": "{{ entities.peer.ips | join(',') }}"}))]
    assert problems == [
        "spec.entities[0].env.P: join(','): fog05 cannot carry ',' in an env value (its env "
        "string is A=1,B=2); join with a space or ':' instead"
    ]
    assert validate(_arch({"P": "{{ entities.peer.ips | join(':') }}"})) == []


def test_what_a_template_renders_by_default_the_fog05_driver_carries() -> None:
    peers = render("{{ entities.peer.ips }}")
    assert encode_env({"PEERS": peers}, "start") == f"PEERS={peers}"
    with pytest.raises(InvalidDescriptor, match=r"env PEERS contains ','.*join\(' '\)"):
        encode_env({"PEERS": render("{{ entities.peer.ips | join(',') }}")}, "start")
