"""``ananke complete FILE:LINE[:COL]`` and ``ananke implement FILE:LINE``: what an editor shows,
from the command line (through a real ``ananke-lsp``, see editor_session.py)."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from pathlib import Path

from .editor_session import Shown, editor_session, project_root
from .errors import SettingsError
from .profiles import PROFILE_NAMES


def _location(text: str) -> tuple[Path, int, int | None]:
    """``FILE:LINE[:COL]``, 1-based as compilers print them, as (path, 0-based line, column)."""
    parts = text.rsplit(":", 2)
    numbers: list[int] = []
    while len(parts) > 1 and parts[-1].isdigit():
        numbers.insert(0, int(parts.pop()))
    path = Path(":".join(parts))
    if not numbers or not path.is_file():
        raise SettingsError(f"{text!r}: give FILE:LINE[:COL] of an existing file (1-based, like a compiler's messages)")
    line, column = numbers[0] - 1, (numbers[1] - 1 if len(numbers) > 1 else None)
    lines = path.read_text().split("\n")
    if not 0 <= line < len(lines):
        raise SettingsError(f"{path} has {len(lines)} lines; line {line + 1} is outside it")
    return path, line, column


def _options(args: argparse.Namespace) -> dict[str, object]:
    # the embedded engine unless the user's own settings say otherwise (MODAL_ENDPOINT, ...)
    options: dict[str, object] = {"model": args.model} if args.model else {}
    if args.profile:  # as the editor's `profile` setting
        options["profile"] = args.profile
    return options


def auto_indented(text: str, line: int, column: int) -> str:
    """``text`` with a blank ``line`` padded to ``column``, as an editor's auto-indent leaves it."""
    lines = text.split("\n")
    if column > len(lines[line]) and not lines[line].strip():
        lines[line] = lines[line].ljust(column)
    return "\n".join(lines)


async def _complete(args: argparse.Namespace) -> Shown:
    path, line, column = _location(args.location)
    text = path.read_text()
    column = len(text.split("\n")[line]) if column is None else column
    async with editor_session(project_root(path), _options(args)) as session:
        return await session.complete(path, line, column, auto_indented(text, line, column))


async def _implement(args: argparse.Namespace) -> Shown:
    path, line, _ = _location(args.location)
    async with editor_session(project_root(path), _options(args)) as session:
        return await session.code_action(path, line, "Implement function")


def _print_complete(args: argparse.Namespace) -> int:
    shown = asyncio.run(_complete(args))
    print(shown.text)
    print(f"-- suggestion in {shown.seconds:.2f} s", file=sys.stderr)
    return 0 if shown.text else 1


def _print_implement(args: argparse.Namespace) -> int:
    shown = asyncio.run(_implement(args))
    path = Path(args.location.rsplit(":", 2)[0])
    before = path.read_text().splitlines(keepends=True)
    diff = difflib.unified_diff(before, shown.text.splitlines(keepends=True), str(path), f"{path} (implemented)")
    sys.stdout.writelines(diff)
    print(f"-- implemented in {shown.seconds:.2f} s; the file itself is unchanged", file=sys.stderr)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model_help = "model name (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, smollm2-135m) or GGUF path; default: auto"
    profile_help = "execution profile, as the editor's `profile` setting; default: the project's, else the action's"
    complete = sub.add_parser("complete", help="print the inline suggestion an editor shows at FILE:LINE[:COL]")
    complete.add_argument(
        "location",
        metavar="FILE:LINE[:COL]",
        help="1-based; COL defaults to the end of the line; on a blank line, COL past its end is the auto-indent",
    )
    complete.add_argument("--model", help=model_help)
    complete.add_argument("--profile", choices=PROFILE_NAMES, help=profile_help)
    complete.set_defaults(run=_print_complete)
    implement = sub.add_parser("implement", help="run 'Implement function' on the function at FILE:LINE (a diff)")
    implement.add_argument("location", metavar="FILE:LINE")
    implement.add_argument("--model", help=model_help)
    implement.add_argument("--profile", choices=PROFILE_NAMES, help=profile_help)
    implement.set_defaults(run=_print_implement)
