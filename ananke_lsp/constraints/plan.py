"""What a backend that takes ONE structured output (vLLM's `StructuredOutputsParams`, an
OpenAI-compatible server's `structured_outputs`) can enforce of a compiled set, and what must
then be validated afterwards. Nothing is dropped: every part not enforced is listed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from .compile import CompiledConstraints, ConstraintPart, regex_intersection_lark

StructuredKind = Literal["json", "regex", "grammar"]
# vLLM (and servers built like it) hand a grammar to `llguidance.grammar_from("grammar", ...)`,
# which reads it as Lark only when a line starts with `start:` or `%llguidance`, and otherwise tries
# to convert it from GBNF, which fails on Lark's `?start:` and `!start:`. Ours are always Lark.
LARK_DIRECTIVE = "%llguidance {}\n"


@dataclass(frozen=True)
class StructuredPlan:
    kind: StructuredKind | None  # None: nothing to enforce
    value: str | dict[str, object] | None
    enforced: list[str] = field(default_factory=list)  # constraints whose every part is enforced
    validated_only: list[str] = field(default_factory=list)  # the rest: checked after generation


def _single(part: ConstraintPart) -> tuple[StructuredKind, str | dict[str, object]]:
    if part.kind == "json_schema":
        return "json", json.loads(part.source)
    if part.kind == "grammar" or len(part.patterns) != 1:
        return "grammar", LARK_DIRECTIVE + part.source
    return "regex", part.patterns[0]


def structured_plan(compiled: CompiledConstraints | None) -> StructuredPlan:
    """Regexes alone (from any number of constraints) intersect into one lexeme: all enforced.
    Otherwise the first JSON schema or grammar in request order is enforced, the rest validated.
    A grammar with a prefix is never the one: such a backend cannot start a grammar part-way."""
    if compiled is None or not compiled.parts:
        return StructuredPlan(kind=None, value=None)
    candidates = [p for p in compiled.parts if not p.prefix]
    regex_parts = [p for p in candidates if p.kind == "regex"]
    chosen: set[ConstraintPart] = set()
    kind: StructuredKind | None = None
    value: str | dict[str, object] | None = None
    if regex_parts and len(regex_parts) == len(candidates):
        patterns = [pat for p in regex_parts for pat in p.patterns]
        if len(patterns) == 1:
            kind, value = "regex", patterns[0]
        else:
            kind, value = "grammar", LARK_DIRECTIVE + regex_intersection_lark(patterns)
        chosen = set(regex_parts)
    elif candidates:
        first = next(p for p in candidates if p.kind != "regex")
        kind, value = _single(first)
        chosen = {first}
    fully = [n for n in compiled.names if all(p in chosen for p in compiled.parts if p.constraint == n)]
    return StructuredPlan(
        kind=kind, value=value, enforced=fully, validated_only=[n for n in compiled.names if n not in fully]
    )
