"""The main job on the embedded default model (a code model chosen for this machine, see
`ananke models`), on the demo project, through a real `ananke-lsp` driven as an editor drives it:

1. an inline suggestion on an empty line of `src/stats.py`, after the editor's auto-indent;
2. *Implement function* on `polygon_area` in `src/geometry.py`, whose doctest is then run;
3. constrained generation under a JSON schema, a regex and a Lark grammar, each output checked
   independently of ananke (jsonschema, re.fullmatch, lark).

Nothing on disk changes. The exit status is 1 only when an output breaks its constraint."""

from __future__ import annotations

import ast
import asyncio
import doctest
import json
import re
import sys
from pathlib import Path

import jsonschema
import lark

from ananke_lsp import Ananke, PyConstraintIR, PyGenerationRequest
from ananke_lsp.editor_cli import auto_indented
from ananke_lsp.editor_session import editor_session

PROJECT = Path(__file__).resolve().parent / "demo-project"
STATS = PROJECT / "src" / "stats.py"
GEOMETRY = PROJECT / "src" / "geometry.py"

TICKET = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "priority": {"enum": ["low", "medium", "high"]},
        "estimate_hours": {"type": "integer", "minimum": 1, "maximum": 40},
    },
    "required": ["title", "priority", "estimate_hours"],
    "additionalProperties": False,
}
SEMVER = r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})"
CALL = r"""
start: NAME "(" args? ")"
args: arg (", " arg)~0..2
arg: NAME | NUMBER
NAME: /[a-z_][a-z0-9_]{0,15}/
NUMBER: /[0-9]{1,4}/
"""


def _check_json(text: str) -> None:
    jsonschema.validate(json.loads(text), TICKET)


def _check_regex(text: str) -> None:
    if not re.fullmatch(SEMVER, text):
        raise ValueError(f"{text!r} does not fullmatch {SEMVER}")


def _check_grammar(text: str) -> None:
    lark.Lark(CALL, parser="earley").parse(text)


CASES = [
    ("JSON schema", "Create a bug ticket for a login crash as JSON.", "ticket", {"json_schema": json.dumps(TICKET)}),
    ("regex", "What version comes after 1.4.2?", "semver", {"regex_patterns": [SEMVER]}),
    ("Lark grammar", "Call a Python function that sums two numbers.", "call", {"grammar": CALL}),
]
CHECKS = {"ticket": _check_json, "semver": _check_regex, "call": _check_grammar}


def _line_after(path: Path, marker: str) -> int:
    return next(i for i, text in enumerate(path.read_text().split("\n")) if marker in text) + 1


def _doctest(source: str, name: str) -> str:
    namespace: dict[str, object] = {}
    exec(compile(source, str(GEOMETRY), "exec"), namespace)  # the demo's own file, as implemented
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(verbose=False)
    results = [runner.run(test, out=lambda _: None) for test in finder.find(namespace[name], name, globs=namespace)]
    failed, tried = sum(r.failed for r in results), sum(r.attempted for r in results)
    return f"doctest {tried - failed}/{tried} passed"


async def editor_demo() -> None:
    line = _line_after(STATS, "average = mean(values)")  # the empty line below it
    async with editor_session(PROJECT) as editor:
        shown = await editor.complete(STATS, line, 4, auto_indented(STATS.read_text(), line, 4))
        print(f"[inline suggestion] src/stats.py:{line + 1}:5  ({shown.seconds:.1f} s)\n    {shown.text}\n")
        def_line = _line_after(GEOMETRY, "def polygon_area") - 1
        implemented = await editor.code_action(GEOMETRY, def_line, "Implement function")
        source = implemented.text
        start = source.index("def polygon_area")
        body = source[start : source.index("\n\n\n", start)]
        ast.parse(source)  # the edit leaves the file parseable, or this raises
        print(f"[Implement function] polygon_area  ({implemented.seconds:.1f} s; {_doctest(source, 'polygon_area')})")
        print("    " + body.replace("\n", "\n    ") + "\n")
        for message in editor.messages:
            print(f"    (server: {message})")


async def constrained_demo() -> int:
    ananke = Ananke.local()
    failures = 0
    for label, prompt, name, source in CASES:
        constraint = PyConstraintIR(name=name, **source)
        request = PyGenerationRequest(prompt=prompt, constraints_ir=[constraint], max_tokens=96, temperature=0.7)
        response = await ananke.generate(request)
        try:
            CHECKS[name](response.code)
            verdict = "valid (checked independently)"
        except Exception as exc:
            failures += 1
            verdict = f"INVALID: {exc}"
        m = response.metadata
        print(f"[{label}] {response.code}")
        print(
            f"    {verdict}; ananke validation: {response.validation.all_satisfied}; "
            f"{m.tokens_generated} tokens in {m.generation_time_ms} ms, compile {m.constraint_compile_time_ms} ms\n"
        )
    return failures


async def main() -> int:
    await editor_demo()
    return 1 if await constrained_demo() else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
