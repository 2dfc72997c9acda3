"""The main job on the embedded default: SmolLM2-135M on the CPU generates under a JSON schema,
a regex and a Lark grammar, and each output is checked independently of ananke
(json + jsonschema, re.fullmatch, the lark parser)."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import jsonschema
import lark

from ananke_lsp import Ananke, PyConstraintIR, PyGenerationRequest

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
    (
        "JSON schema",
        "Create a bug ticket for a login crash as JSON.",
        PyConstraintIR(name="ticket", json_schema=json.dumps(TICKET)),
        _check_json,
    ),
    ("regex", "What version comes after 1.4.2?", PyConstraintIR(name="semver", regex_patterns=[SEMVER]), _check_regex),
    (
        "Lark grammar",
        "Call a Python function that sums two numbers.",
        PyConstraintIR(name="call", grammar=CALL),
        _check_grammar,
    ),
]


async def main() -> int:
    ananke = Ananke.local()
    failures = 0
    for label, prompt, constraint, independent_check in CASES:
        request = PyGenerationRequest(prompt=prompt, constraints_ir=[constraint], max_tokens=96, temperature=0.7)
        response = await ananke.generate(request)
        try:
            independent_check(response.code)
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
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
