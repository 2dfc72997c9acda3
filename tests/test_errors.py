"""The exception tree drawn in `ananke_lsp/errors.py` is the classes' own: every class it names
subclasses the one it is drawn under (and the built-in named beside it), and every exception
class of both packages is drawn."""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil
import re

import ananke_lsp
import ananke_lsp.errors
import modal_service

_DRAWN = re.compile(r"^(?P<indent>[ │]*)[├└]── (?P<name>\w+)(?: \((?P<also>\w+)\))?")


def _classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in either package."""
    names = [m.name for p in (ananke_lsp, modal_service) for m in pkgutil.walk_packages(p.__path__, f"{p.__name__}.")]
    modules = [importlib.import_module(name) for name in names if not name.endswith("__main__")]
    return {
        name: cls
        for module in modules
        for name, cls in vars(module).items()
        if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == module.__name__
    }


def test_the_drawn_tree_is_the_class_tree() -> None:
    classes = _classes()
    parents: list[str] = ["AnankeError"]
    drawn = []
    for line in (ananke_lsp.errors.__doc__ or "").splitlines():
        if (m := _DRAWN.match(line.removeprefix("    "))) is None:
            continue
        depth = len(m["indent"]) // 4 + 1
        del parents[depth:]
        name = m["name"]
        assert issubclass(classes[name], classes[parents[-1]]), f"{name} is drawn under {parents[-1]}"
        if m["also"] and hasattr(builtins, m["also"]):
            assert issubclass(classes[name], getattr(builtins, m["also"])), f"{name} is not a {m['also']}"
        parents.append(name)
        drawn.append(name)
    assert sorted(drawn) == sorted(set(classes) - {"AnankeError"})
