"""modal_app.py against the `modal` client: every Modal call it makes, with the keywords it passes,
binds to the installed client (`inspect.signature`) and exists in the source of the oldest release
pyproject.toml allows (`versions.MODAL_FLOOR`, its wheel read with `ast`, never installed)."""

from __future__ import annotations

import ast
import inspect
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import modal
import pytest
from packaging.requirements import Requirement

from modal_service import versions
from modal_service.modal_app import DeploySettings, function_options, require_modal

from .contract_sources import Wheel, method, top_level, wheel

ROOT = Path(__file__).resolve().parent.parent
MODAL_APP = ROOT / "modal_service" / "modal_app.py"


@dataclass(frozen=True)
class ModalCall:
    path: tuple[str, ...]  # ("Image", "uv_pip_install"), ("App",), ("asgi_app",)
    positional: int
    starred: bool  # a `*args` among the positional arguments
    keywords: frozenset[str]


def _path(node: ast.expr, classes: dict[str, str]) -> tuple[str, ...] | None:
    """The Modal object a call's callee is: `modal.X.y`, a method on the result of such a call
    (`modal.Image.debian_slim(...).env`), or a method on a module variable holding a Modal object."""
    if isinstance(node, ast.Name):
        return (classes[node.id],) if node.id in classes else None
    if not isinstance(node, ast.Attribute):
        return None
    if isinstance(node.value, ast.Name) and node.value.id == "modal":
        return (node.attr,)
    if isinstance(node.value, ast.Call):  # a chained builder: the method belongs to the same class
        inner = _path(node.value.func, classes)
        return (inner[0], node.attr) if inner else None
    inner = _path(node.value, classes)
    return (*inner, node.attr) if inner else None


def modal_calls() -> Iterator[ModalCall]:
    tree = ast.parse(MODAL_APP.read_text())
    classes = {}  # module variables holding Modal objects: `app = modal.App(...)`
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            path = _path(node.value.func, {})
            if path and path[0][:1].isupper():
                classes |= {t.id: path[0] for t in node.targets if isinstance(t, ast.Name)}
    expanded = set(function_options(DeploySettings()))  # what `**function_options(SETTINGS)` passes
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (path := _path(node.func, classes)):
            if path == ("__version__",):
                continue
            keywords = {k.arg for k in node.keywords if k.arg} | (
                expanded if any(k.arg is None for k in node.keywords) else set()
            )
            starred = any(isinstance(a, ast.Starred) for a in node.args)
            yield ModalCall(path, len(node.args), starred, frozenset(keywords))


def test_modal_app_calls_what_this_check_knows() -> None:
    found = {c.path for c in modal_calls()}
    assert {("App", "function"), ("Image", "uv_pip_install"), ("asgi_app",), ("concurrent",)} <= found, found


@pytest.mark.parametrize("call", sorted(set(modal_calls()), key=lambda c: c.path), ids=lambda c: ".".join(c.path))
def test_each_modal_call_binds_to_the_installed_client(call: ModalCall) -> None:
    target: object = modal
    for name in call.path:
        target = getattr(target, name)
    signature = inspect.signature(target)  # type: ignore[arg-type]
    positional = [None] * (call.positional + (2 if call.starred else 0))
    signature.bind_partial(*positional, **dict.fromkeys(call.keywords))  # TypeError: does not bind


def _definition(source: Wheel, name: str) -> ast.FunctionDef | ast.ClassDef:
    """Modal's implementation of a public name: `class _Image`, `def _asgi_app` (the public objects
    are generated wrappers around these)."""
    for candidate in (f"_{name}", name):
        for module in source.modules("modal"):
            node = top_level(source.tree(module), candidate)
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                return node
    raise AssertionError(f"modal {versions.MODAL_FLOOR} has no {name}")


def _accepts(function: ast.FunctionDef | ast.AsyncFunctionDef, call: ModalCall, bound: bool) -> list[str]:
    args = function.args
    positional = [a.arg for a in [*args.posonlyargs, *args.args]][1 if bound else 0 :]
    named = {a.arg for a in [*args.args, *args.kwonlyargs]}
    problems = [f"no keyword {k}" for k in sorted(call.keywords - named) if args.kwarg is None]
    if call.starred and args.vararg is None:
        problems.append("takes no *args")
    if call.positional > len(positional) and args.vararg is None:
        problems.append(f"takes {len(positional)} positional arguments, not {call.positional}")
    return problems


def test_the_modal_floor_has_every_call_and_keyword() -> None:
    floor = wheel("modal", versions.MODAL_FLOOR)
    problems = []
    for call in set(modal_calls()):
        node = _definition(floor, call.path[0])
        if isinstance(node, ast.ClassDef):
            function = method(node, call.path[1] if len(call.path) > 1 else "__init__")
            static = any(ast.unparse(d) == "staticmethod" for d in function.decorator_list)
            found = _accepts(function, call, bound=not static)
        else:
            found = _accepts(node, call, bound=False)
        problems += [f"{'.'.join(call.path)}: {p}" for p in found]
    assert not problems, f"modal {versions.MODAL_FLOOR} lacks: {problems}"


def test_pyproject_states_the_floor() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *(d for deps in project["optional-dependencies"].values() for d in deps)]
    floors = [str(Requirement(line).specifier) for line in lines if Requirement(line).name == "modal"]
    assert floors == [f">={versions.MODAL_FLOOR}"]


def test_an_older_client_is_told_which_release_it_needs() -> None:
    require_modal(modal.__version__)
    require_modal(versions.MODAL_FLOOR)
    with pytest.raises(RuntimeError, match=rf"needs modal>={re.escape(versions.MODAL_FLOOR)} .*this is modal 1\.0\.5"):
        require_modal("1.0.5")
