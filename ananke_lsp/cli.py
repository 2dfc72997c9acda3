"""``ananke``: generate with constraints on the command line, and check ``.ananke.toml`` files."""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import sys
from importlib.metadata import entry_points
from pathlib import Path

from .api_types import PyConstraintIR, PyGenerationRequest, PyGenerationResponse
from .constraints.compile import MAX_CONSTRAINT_BYTES
from .editor_cli import add_parsers as add_editor_parsers
from .engines.model_files import auto_choice
from .errors import AnankeError, SettingsError
from .models.command import add_parser as add_models_parser
from .profiles import PROFILE_NAMES

COMMANDS_GROUP = "ananke.commands"
EXIT_VIOLATED = 1
EXIT_ERROR = 2
MODEL_HELP = "a pinned model (see `ananke models`) or a GGUF file; default: $ANANKE_MODEL, else auto"
PROFILE_HELP = "execution profile: its temperature, top-p and seed (deterministic: greedy; creative: a fresh seed)"


def _unreadable(path: str, what: str, reason: str) -> SettingsError:
    return SettingsError(f"cannot read {what} file {path}: {reason}")


def _read(path: str, what: str) -> str:
    """A constraint file: a regular UTF-8 file no larger than a constraint may be. Anything else
    is bad input, refused without reading on: a FIFO would wait for a writer, /dev/zero never ends."""
    try:
        # O_NONBLOCK: a FIFO opens at once (and is refused) instead of waiting for a writer
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise _unreadable(path, what, "not a regular file")
            data = file.read(MAX_CONSTRAINT_BYTES + 1)
    except OSError as exc:
        raise _unreadable(path, what, exc.strerror or str(exc)) from None
    if len(data) > MAX_CONSTRAINT_BYTES:
        raise _unreadable(path, what, f"larger than {MAX_CONSTRAINT_BYTES} bytes, the most a constraint may hold")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise _unreadable(path, what, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _constraints(args: argparse.Namespace) -> list[PyConstraintIR]:
    found: list[PyConstraintIR] = []
    if args.regex:
        found.append(PyConstraintIR(name="regex", regex_patterns=args.regex))
    if args.json_schema:
        found.append(
            PyConstraintIR(name=Path(args.json_schema).stem, json_schema=_read(args.json_schema, "JSON schema"))
        )
    if args.grammar:
        found.append(PyConstraintIR(name=Path(args.grammar).stem, grammar=_read(args.grammar, "grammar")))
    return found


def _status(response: PyGenerationResponse) -> str:
    v, m = response.validation, response.metadata
    if v.all_satisfied:
        return "all constraints hold"
    if m.finish_reason == "constraint_conflict":  # the engine found no token all of them allow
        names = ", ".join(v.violated)
        after = f"after {m.tokens_generated} tokens no next token satisfies all of them"
        return f"CONFLICT: the constraints contradict each other ({names}): {after}"
    return f"VIOLATED: {v.errors}"


async def _generate(args: argparse.Namespace) -> int:
    from .api import Ananke

    # a temperature given with --temperature overrides the profile's; without either, 0.7 as before
    sampling = {"temperature": args.temperature} if args.temperature is not None else {}
    request = PyGenerationRequest(
        prompt=args.prompt,
        constraints_ir=_constraints(args),
        max_tokens=args.max_tokens,
        profile=args.profile,
        **sampling,
    )
    response = await Ananke.local(args.model).generate(request)  # bad input is refused before a model loads
    if args.json:
        print(response.model_dump_json(indent=2))
    else:
        print(response.code)
        v, m, p = response.validation, response.metadata, response.provenance
        print(
            f"-- {_status(response)}; enforced token by token: {v.enforced or 'none'}; {m.tokens_generated} tokens in "
            f"{m.generation_time_ms} ms ({m.finish_reason}); compile {m.constraint_compile_time_ms} ms; "
            f"profile {p.profile or 'none'}: temperature {p.temperature}, top-p {p.top_p}, seed {p.seed}",
            file=sys.stderr,
        )
    return 0 if response.validation.all_satisfied else EXIT_VIOLATED


def _check(args: argparse.Namespace) -> int:
    from .config import check

    issues = check(Path(args.path))
    for issue in issues:
        print(f"{issue.file}:{issue.line}:{issue.column}: {issue.message}", file=sys.stderr)
    if not issues:
        print(f"{args.path}: OK")
    return EXIT_ERROR if issues else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ananke", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate text that satisfies the given constraints")
    gen.add_argument("prompt")
    gen.add_argument("--regex", action="append", default=[], metavar="R", help="regex the whole output must match")
    gen.add_argument("--json-schema", metavar="FILE", help="JSON schema the output must satisfy")
    gen.add_argument("--grammar", metavar="FILE", help="llguidance Lark grammar the output must follow")
    gen.add_argument("--max-tokens", type=int, default=256, metavar="N")
    gen.add_argument(
        "--temperature", type=float, metavar="T", help="overrides the profile's; default: the profile's, else 0.7"
    )
    gen.add_argument("--profile", choices=PROFILE_NAMES, help=PROFILE_HELP)
    gen.add_argument("--model", metavar="NAME|PATH", help=MODEL_HELP)
    gen.add_argument("--json", action="store_true", help="print the whole response as JSON")
    gen.set_defaults(run=lambda a: asyncio.run(_generate(a)))

    chk = sub.add_parser("check", help="validate a .ananke.toml and compile its constraints")
    chk.add_argument("path", nargs="?", default=".", help="config file or a directory to search upwards from")
    chk.set_defaults(run=_check)

    add_editor_parsers(sub)
    add_models_parser(sub, auto_choice)
    # commands of the packages built on this one: `ananke serve` (modal_service.cli)
    for command in entry_points(group=COMMANDS_GROUP):
        command.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (AnankeError, ValueError) as exc:  # ValueError: input pydantic refuses (--max-tokens 0)
        print(f"ananke: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
