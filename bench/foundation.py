"""Engine figures: model load, decode speed with and without llguidance masks, mask time per
token, constraint compile cold vs cached."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import llguidance as llg

from ananke_lsp.api_types import PyConstraintIR as C
from ananke_lsp.constraints import ConstraintCache, compile_constraints
from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.engines.embedded import EmbeddedEngine

RUNS = 5
TOKENS = 128
PROMPT = "Write a long story about a robot who learns to paint."
# Permissive enough that the constrained run does not stop early. The counted variant is a
# worst case: every step is a new lexer state, so no mask is reused.
PROSE = C(name="prose", regex_patterns=[r"[A-Za-z0-9 ,.;:'!?\n-]*"])
COUNTED = C(name="counted prose", regex_patterns=[r"[A-Za-z0-9 ,.;:'!?\n-]{0,2000}"])
STORY = C(
    name="story JSON",
    json_schema=json.dumps({"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}),
)
SCHEMA = C(
    name="schema",
    json_schema=json.dumps(
        {
            "type": "object",
            "properties": {"story": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["story", "tags"],
        }
    ),
)
GRAMMAR = C(name="grammar", grammar='start: line+\nline: WORD (" " WORD)* "\\n"\nWORD: /[A-Za-z]+/\n')
REGEX = C(name="regex", regex_patterns=[r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"])


def _cold_load_ms() -> float:
    code = (
        "import time;from ananke_lsp.engines.embedded import load_model;"
        "t=time.perf_counter();load_model();print((time.perf_counter()-t)*1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


async def _decode(engine: EmbeddedEngine, constraint: C) -> dict[str, float]:
    compiled = compile_constraints([constraint])
    free, masked, mask_us = [], [], []
    for _ in range(RUNS):  # alternate, so drift hits both alike
        request = EngineRequest(prompt=PROMPT, max_tokens=TOKENS, temperature=0.0)
        r = await engine.generate(request)
        free.append(r.tokens_generated / r.decode_ms * 1000)
        r = await engine.generate(request.model_copy(update={"constraints": [constraint]}), compiled)
        masked.append(r.tokens_generated / r.decode_ms * 1000)
        mask_us.append(r.mask_us_total / max(r.tokens_generated, 1))
    return {"free": statistics.median(free), "masked": statistics.median(masked), "mask_us": statistics.median(mask_us)}


def _direct(tokenizer: object, constraint: C) -> object:
    """What calling llguidance by hand costs: grammar text to a matcher for the model."""
    if constraint.json_schema:
        grammar = llg.LLMatcher.grammar_from_json_schema(
            constraint.json_schema, overrides={"whitespace_flexible": False}
        )
    elif constraint.grammar:
        grammar = llg.LLMatcher.grammar_from_lark(constraint.grammar)
    else:
        grammar = llg.LLMatcher.grammar_from_regex(constraint.regex_patterns[0])
    return llg.LLMatcher(tokenizer, grammar)


def _median_us(work: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        work()  # type: ignore[operator]
        times.append((time.perf_counter() - t) * 1e6)
    return statistics.median(times)


def _compile(engine: EmbeddedEngine) -> dict[str, tuple[float, float, float]]:
    """Per constraint: cold compile to a ready matcher, cached, and llguidance called directly."""
    tokenizer = engine.loaded().tokenizer
    figures = {}
    for constraint in (REGEX, SCHEMA, GRAMMAR):
        cold = _median_us(lambda c=constraint: compile_constraints([c], tokenizer).matchers(tokenizer), RUNS * 4)
        direct = _median_us(lambda c=constraint: _direct(tokenizer, c), RUNS * 4)
        cache = ConstraintCache()
        cache.get([constraint], tokenizer)
        hot = _median_us(lambda c=constraint, k=cache: k.get([c], tokenizer)[0].matchers(tokenizer), RUNS * 20)
        figures[constraint.name] = (cold, hot, direct)
    return figures


async def measure() -> str:
    load_ms = _cold_load_ms()
    engine = EmbeddedEngine()
    engine.loaded()
    decodes = {c.name: await _decode(engine, c) for c in (PROSE, STORY, COUNTED)}
    compiled = _compile(engine)
    rows = [
        "| figure | value |",
        "|---|---|",
        f"| model load (SmolLM2-135M Q4_1 GGUF, llama.cpp, fresh process) | {load_ms:.0f} ms |",
    ]
    for name, d in decodes.items():
        rows.append(
            f"| decode {TOKENS} tokens, {name} mask vs unconstrained (median of {RUNS}, alternating) | "
            f"{d['masked']:.1f} / {d['free']:.1f} tok/s = {d['masked'] / d['free']:.3f}x; "
            f"mask {d['mask_us']:.0f} µs/token |"
        )
    for name, (cold, hot, direct) in compiled.items():
        rows.append(
            f"| compile {name} to a matcher for the 49k vocab: cold / cached | "
            f"{cold:.0f} µs / {hot:.1f} µs = {cold / hot:.0f}x |"
        )
        rows.append(f"| compile {name}: ananke's path / llguidance called directly | {cold / direct:.2f}x |")
    return "## Engine and constraints\n\n" + "\n".join(rows)
