"""A constraint self-test: a tiny constrained generation the model would never write unprompted,
so an engine that silently ignores constraints (fails open) is caught."""

from __future__ import annotations

import re

from . import generation
from .api_types import PyConstraintIR
from .constraints import ConstraintCache
from .engines.base import Engine, EngineRequest
from .engines.service_wire import SelfTest

PATTERN = r"ananke-self-test-[0-9]{2}"
CONSTRAINT = PyConstraintIR(name="self-test", regex_patterns=[PATTERN])


async def self_test(engine: Engine, cache: ConstraintCache) -> SelfTest:
    request = EngineRequest(prompt="Say hello.", constraints=[CONSTRAINT], max_tokens=16, temperature=0.0)
    outcome = await generation.run(engine, cache, request)
    text = outcome.result.text
    ok = outcome.validation.all_satisfied and re.fullmatch(PATTERN, text) is not None
    detail = "" if ok else f"output {text!r} breaks the self-test constraint: the engine is not enforcing"
    return SelfTest(ok=ok, output=text, detail=detail)
