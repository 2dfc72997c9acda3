"""The pinned releases' own source, for the contract tests: wheels downloaded once with
`pip download --no-deps` into a cache, read as zip files and parsed with `ast` — never installed,
never imported (vLLM needs CUDA). Without the wheel (an offline clone) the tests skip and say why."""

from __future__ import annotations

import ast
import email
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("ANANKE_CONTRACT_CACHE", "~/.cache/ananke-lsp/contract")).expanduser()
# vLLM ships Linux wheels only; naming the platform lets a Mac or an ARM machine fetch it as well.
VLLM_PLATFORM = "manylinux_2_28_x86_64"


def _pip_download(requirement: str, platform: str | None, into: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(into)]
    command += ["--platform", platform] if platform else []
    try:
        done = subprocess.run([*command, requirement], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot download {requirement} to read its source ({exc}); the contract is not checked")
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"cannot download {requirement} to read its source (offline?): {said}")


def wheel(name: str, version: str, platform: str | None = None) -> Wheel:
    """The wheel of ``name==version`` from the cache, downloaded there first if need be."""
    stem = f"{name.replace('-', '_')}-{version}-"
    cached = sorted(CACHE.glob(f"{stem}*.whl"))
    if not cached:
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as partial:  # a broken download never lands
            _pip_download(f"{name}=={version}", platform, Path(partial))
            for path in Path(partial).glob(f"{stem}*.whl"):
                shutil.move(path, CACHE / path.name)
        cached = sorted(CACHE.glob(f"{stem}*.whl"))
    if not cached:
        pytest.skip(f"pip fetched no wheel for {name}=={version}")
    return Wheel(cached[0])


@dataclass
class Wheel:
    path: Path
    _trees: dict[str, ast.Module] = field(default_factory=dict, repr=False)

    @cached_property
    def _zip(self) -> zipfile.ZipFile:
        return zipfile.ZipFile(self.path)

    def text(self, member: str) -> str:
        return self._zip.read(member).decode()

    def module_path(self, module: str) -> str:
        base = module.replace(".", "/")
        names = set(self._zip.namelist())
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if candidate in names:
                return candidate
        raise AssertionError(f"{self.path.name} has no module {module}")

    def modules(self, package: str) -> list[str]:
        """The modules directly inside ``package`` (not its subpackages)."""
        prefix = package.replace(".", "/") + "/"
        return sorted(
            name[:-3].replace("/", ".")
            for name in self._zip.namelist()
            if name.startswith(prefix) and name.endswith(".py") and "/" not in name[len(prefix) :]
        )

    def source(self, module: str) -> str:
        return self.text(self.module_path(module))

    def tree(self, module: str) -> ast.Module:
        if module not in self._trees:
            self._trees[module] = ast.parse(self.source(module))
        return self._trees[module]

    def requires(self) -> dict[str, str]:
        """Requires-Dist of the wheel: name → the whole requirement line."""
        info = next(n for n in self._zip.namelist() if n.endswith(".dist-info/METADATA"))
        lines = email.message_from_string(self.text(info)).get_all("Requires-Dist") or []
        found: dict[str, str] = {}
        for line in lines:
            name = line.split(";")[0].split("[")[0]
            for stop in "<>=!~ (":
                name = name.split(stop)[0]
            found.setdefault(name.strip().lower().replace("_", "-"), line)
        return found

    def definition(self, module: str, name: str) -> tuple[str, ast.stmt]:
        """Where ``module.name`` is really defined: follows `from x import name` and vLLM's lazy
        `MODULE_ATTRS = {"Name": ".module:Name"}` table. Returns (module, its definition)."""
        for _ in range(10):
            node = top_level(self.tree(module), name)
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef | ast.Assign | ast.AnnAssign):
                return module, node
            tree = self.tree(module)
            package = module if self.module_path(module).endswith("__init__.py") else module.rpartition(".")[0]
            target = _imported_from(tree, package, name) or _lazy_attr(tree, package, name)
            if target is None:
                raise AssertionError(f"{module} does not define or export {name}")
            module, name = target
        raise AssertionError(f"{module}.{name}: too many re-exports")

    def extract(self, module: str, names: list[str]) -> str:
        """The source of top-level definitions of ``module``, to be run on their own."""
        source, tree = self.source(module), self.tree(module)
        pieces = []
        for name in names:
            node = top_level(tree, name)
            if node is None:
                raise AssertionError(f"{module} no longer defines {name}: update the contract test")
            pieces.append(ast.get_source_segment(source, node, padded=False) or "")
            decorators = getattr(node, "decorator_list", [])
            if decorators:  # get_source_segment leaves the decorators out
                lines = [f"@{ast.unparse(d)}" for d in decorators]
                pieces[-1] = "\n".join([*lines, pieces[-1]])
        return "\n\n".join(pieces)


def top_level(tree: ast.Module, name: str) -> ast.stmt | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node
    return None


def _absolute(package: str, level: int, target: str | None) -> str:
    """The module a (possibly relative) import in ``package`` names."""
    if level == 0:
        return target or ""
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def _imported_from(tree: ast.Module, package: str, name: str) -> tuple[str, str] | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _absolute(package, node.level, node.module), alias.name
    return None


def _lazy_attr(tree: ast.Module, package: str, name: str) -> tuple[str, str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == name and isinstance(value, ast.Constant):
                    where, _, attr = str(value.value).partition(":")
                    level = len(where) - len(where.lstrip("."))
                    return _absolute(package, level, where.lstrip(".") or None), attr
    return None


def class_fields(node: ast.ClassDef) -> dict[str, str]:
    """A dataclass-like class's fields (annotated names in its body): name → annotation text."""
    return {
        s.target.id: ast.unparse(s.annotation)
        for s in node.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    }


def class_default(node: ast.ClassDef, name: str) -> str | None:
    for s in node.body:
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.target.id == name and s.value:
            return ast.unparse(s.value)
    return None


def method(node: ast.ClassDef, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for s in node.body:
        if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name == name:
            return s
    raise AssertionError(f"class {node.name} has no method {name}")


def parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[list[str], bool]:
    """The parameter names in order (self included) and whether it takes **kwargs."""
    args = function.args
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    return names, args.kwarg is not None
