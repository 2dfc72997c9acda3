"""Runs vLLM's own structured-output code on our requests, with the llguidance release vLLM gets.

Started by tests/test_vllm_contract.py with a Python that has that llguidance (a throwaway venv
when ours differs), so it needs only the standard library and llguidance. Reads JSON on stdin:
``{"vllm_code": <source extracted from the vLLM wheel>, "config": {...}, "cases": [...]}``, where
each case is ``{"name", "structured_outputs", "accept": [...], "reject": [...]}``; writes one JSON
result per case: what vLLM's request validation said, the compiled grammar's error, and which
samples the grammar vLLM compiles accepts."""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import logging
import sys
import types
from types import SimpleNamespace
from typing import Any, ClassVar

import llguidance


class VLLMValidationError(ValueError):
    """vLLM's own (vllm.exceptions): a request refused with a 400."""

    def __init__(self, message: str, *args: object, **kwargs: object) -> None:
        super().__init__(message)


class _ByteTokenizer:
    """One token per byte, so samples are checked independently of any model's vocabulary."""

    eos_token_id = 256
    bos_token_id = None
    tokens: ClassVar[list[bytes]] = [bytes([i]) for i in range(256)] + [b"\xff<eos>"]
    special_token_ids: ClassVar[list[int]] = [256]

    def __call__(self, text: str | bytes) -> list[int]:
        return list(text.encode() if isinstance(text, str) else text)


def _vllm(code: str) -> dict[str, Any]:
    """The extracted vLLM definitions, run with the names their modules import."""
    module = types.ModuleType("vllm_extract")  # dataclasses look their class's module up
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    namespace.update(
        {
            "Any": Any,
            "copy": copy,
            "dataclass": dataclasses.dataclass,
            "enum": enum,
            "field": dataclasses.field,
            "json": json,
            "json_mod": json,
            "llguidance": llguidance,
            "logger": logging.getLogger("vllm"),
            "VLLMValidationError": VLLMValidationError,
        }
    )
    exec(compile("from __future__ import annotations\n" + code, "<vllm wheel>", "exec"), namespace)
    return namespace


def _accepts(tokenizer: llguidance.LLTokenizer, grammar: str, text: str) -> bool:
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    data = text.encode()
    return matcher.try_consume_tokens(list(data)) == len(data) and matcher.is_accepting()


def _run(vllm: dict[str, Any], config: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"name": case["name"], "refused": None, "grammar_error": None, "accepted": {}}
    try:
        # What the request goes through before it is queued (SamplingParams._validate_structured_outputs):
        params = vllm["StructuredOutputsParams"](**case["structured_outputs"])
        vllm["check_json_nesting"](params.json)
        vllm["validate_guidance_grammar"](SimpleNamespace(structured_outputs=params), tokenizer=None)
        # What the engine then compiles (GuidanceBackend.compile_grammar, with the engine's config):
        kind, spec = vllm["get_structured_output_key"](params)
        grammar = vllm["serialize_guidance_grammar"](
            kind, spec, config.get("disable_any_whitespace", False), config.get("disable_additional_properties", False)
        )
    except (ValueError, TypeError, KeyError) as exc:
        result["refused"] = f"{type(exc).__name__}: {exc}"
        return result
    tokenizer = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_ByteTokenizer()))
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    if matcher.get_error():
        result["grammar_error"] = matcher.get_error()
        return result
    for text in [*case.get("accept", []), *case.get("reject", [])]:
        result["accepted"][text] = _accepts(tokenizer, grammar, text)
    return result


def main() -> None:
    request = json.load(sys.stdin)
    vllm = _vllm(request["vllm_code"])
    results = [_run(vllm, request["config"], case) for case in request["cases"]]
    json.dump({"llguidance": llguidance.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
