"""The shape the developers' guide asks of the code: functions under 60 lines and modules
under 450 in what we ship and what the tests and benches stand on; and every Python file
in the repository is one ``make typecheck`` checks."""

from __future__ import annotations

import ast
import functools
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHAPED = ("controller", "hack", "tests/support", "deploy")
"""Where the limits hold. Test modules are left out: a decision table reads best whole."""
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450
TOO_LONG_ALLOWED: dict[str, str] = {
    "tests/support/yaks_standin.py": "the fog05 dead-agent work is changing it on another "
                                     "branch; split it once that has merged",
}
"""Module → why it may exceed :data:`MAX_MODULE_LINES` for now."""
NOT_OURS = {"build", "dist", "node_modules", "__pycache__"}
"""Besides hidden directories (.venv, .git, .run, .bench, caches): nothing of ours."""


@dataclass(frozen=True)
class Offender:
    path: str
    line: int
    what: str
    lines: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what} is {self.lines} lines"


def python_files(under: Path) -> Iterator[Path]:
    for path in sorted(under.rglob("*.py")):
        parts = path.relative_to(REPO).parts
        if not NOT_OURS.intersection(parts) and not any(p.startswith(".") for p in parts):
            yield path


def long_functions(name: str, source: str) -> Iterator[Offender]:
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                yield Offender(name, node.lineno, f"function {node.name}", lines)


def long_module(name: str, source: str) -> Offender | None:
    lines = len(source.splitlines())
    if lines <= MAX_MODULE_LINES or name in TOO_LONG_ALLOWED:
        return None
    return Offender(name, 1, "module", lines)


@functools.cache
def shaped_sources() -> tuple[tuple[str, str], ...]:
    """(path relative to the repository, source) of every file the limits hold for."""
    return tuple((str(path.relative_to(REPO)), path.read_text())
                 for root in SHAPED for path in python_files(REPO / root))


def test_no_function_is_over_60_lines() -> None:
    offenders = [str(o) for name, src in shaped_sources() for o in long_functions(name, src)]
    assert not offenders, "split these into named steps:\n" + "\n".join(offenders)


def test_no_module_is_over_450_lines() -> None:
    offenders = [str(o) for name, src in shaped_sources()
                 if (o := long_module(name, src)) is not None]
    assert not offenders, "split these modules:\n" + "\n".join(offenders)


def test_the_allowed_long_modules_still_need_it() -> None:
    """An allowance ends when its module is split."""
    short = [m for m in TOO_LONG_ALLOWED
             if len((REPO / m).read_text().splitlines()) <= MAX_MODULE_LINES]
    assert not short, f"no longer over {MAX_MODULE_LINES} lines: drop {short} from the list"


def test_the_checks_find_a_long_function_and_a_long_module() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    source = "def short():\n    pass\n\n\ndef long():\n" + body + "\n" * MAX_MODULE_LINES
    assert [str(o) for o in long_functions("m.py", source)] == [
        f"m.py:5: function long is {MAX_FUNCTION_LINES + 1} lines"]
    assert str(long_module("m.py", source)) == (
        f"m.py:1: module is {MAX_MODULE_LINES + MAX_FUNCTION_LINES + 5} lines")
    assert long_module("m.py", body) is None


# --- what mypy checks ----------------------------------------------------------------------


def typechecked() -> tuple[list[Path], list[Path]]:
    """The directories and files pyproject.toml's [tool.mypy] ``packages`` and ``modules``
    name, found as mypy finds them: under the repository or a ``mypy_path`` entry."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    bases = [REPO, *(REPO / p for p in config.get("mypy_path", []))]
    dirs = [base / pkg.replace(".", "/") for pkg in config.get("packages", []) for base in bases
            if (base / pkg.replace(".", "/")).is_dir()]
    files = [base / f"{mod}.py" for mod in config.get("modules", []) for base in bases
             if (base / f"{mod}.py").is_file()]
    return dirs, files


def test_every_python_file_is_typechecked() -> None:
    dirs, files = typechecked()
    left_out = [str(p.relative_to(REPO)) for p in python_files(REPO)
                if p not in files and not any(p.is_relative_to(d) for d in dirs)]
    assert not left_out, ("not in [tool.mypy] packages/modules of pyproject.toml, so "
                          "`make typecheck` skips them:\n" + "\n".join(left_out))
