"""The vLLM engine's request mapping, checked as data (vLLM itself needs a GPU and is not installed
here): what reaches `SamplingParams`, which constraint vLLM enforces, and the prompt it sees."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import time
import types
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import llguidance as llg
import pytest

from ananke_lsp.api_types import PyConstraintIR
from ananke_lsp.constraints import compile_constraints
from ananke_lsp.constraints.matcher_memo import byte_tokenizer
from ananke_lsp.constraints.plan import LARK_DIRECTIVE, structured_plan
from ananke_lsp.engines.base import DEFAULT_SYSTEM, Engine, EngineRequest, EngineResult
from ananke_lsp.errors import EngineError
from modal_service.vllm_engine import (
    STRUCTURED_OUTPUTS_CONFIG,
    VLLM_MAX_JSON_NESTING,
    ConstraintRefused,
    VLLMEngine,
    check_vllm_limits,
    engine_kwargs,
    finish_reason,
    json_nesting,
    prompt_text,
    sampling_kwargs,
    text_delta,
)

POINT = {
    "type": "object",
    "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
    "required": ["x", "y"],
    "additionalProperties": False,
}


def _kwargs(*constraints: PyConstraintIR, **request: object) -> dict[str, object]:
    compiled = compile_constraints(list(constraints)) if constraints else None
    return sampling_kwargs(EngineRequest(prompt="p", **request), structured_plan(compiled))  # type: ignore[arg-type]


def _keys(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from _keys(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _keys(inner)


def _assert_no_guided(kwargs: dict[str, object]) -> None:
    # vLLM removed guided_* in 0.12: SamplingParams refuses them, its OpenAI server ignores them.
    assert not [k for k in _keys(kwargs) if k.startswith("guided")]


def _lark_accepts(lark: str, text: str) -> bool:
    grammar = llg.LLMatcher.grammar_from_lark(lark)
    assert not llg.LLMatcher.validate_grammar(grammar)  # no error: llguidance compiles it
    matcher = llg.LLMatcher(byte_tokenizer(), grammar, log_level=0)
    data = text.encode()
    return matcher.try_consume_tokens(list(data)) == len(data) and matcher.is_accepting()


def test_json_schema_is_sent_as_the_schema_itself() -> None:
    kwargs = _kwargs(PyConstraintIR(name="point", json_schema=json.dumps(POINT)))
    assert kwargs["structured_outputs"] == {"json": POINT}
    _assert_no_guided(kwargs)


def test_one_regex_is_sent_as_a_regex() -> None:
    kwargs = _kwargs(PyConstraintIR(name="ident", regex_patterns=[r"[a-z_][a-z0-9_]*"]))
    assert kwargs["structured_outputs"] == {"regex": r"[a-z_][a-z0-9_]*"}
    _assert_no_guided(kwargs)


def test_regexes_across_constraints_become_one_grammar_that_llguidance_enforces() -> None:
    constraints = [
        PyConstraintIR(name="snake", regex_patterns=[r"[a-z_]+"]),
        PyConstraintIR(name="short", regex_patterns=[r".{1,8}"]),
        PyConstraintIR(name="no_double_underscore", regex_patterns=[r"([^_]|_[^_])*_?"]),
    ]
    compiled = compile_constraints(constraints)
    plan = structured_plan(compiled)
    kwargs = sampling_kwargs(EngineRequest(prompt="p"), plan)
    structured = kwargs["structured_outputs"]
    assert isinstance(structured, dict) and list(structured) == ["grammar"]
    lark = structured["grammar"]
    assert isinstance(lark, str)
    assert _lark_accepts(lark, "snake_ok")  # every pattern matches
    assert not _lark_accepts(lark, "far_too_long")  # snake, but longer than 8
    assert not _lark_accepts(lark, "a__b")  # a double underscore
    assert not _lark_accepts(lark, "Caps")  # not snake case
    assert plan.enforced == ["snake", "short", "no_double_underscore"]
    assert plan.validated_only == []
    _assert_no_guided(kwargs)


@pytest.mark.parametrize("start", ["start", "?start", "!start"])
def test_a_grammar_is_sent_as_lark_and_says_so(start: str) -> None:
    """vLLM reads a grammar as Lark only when told (or when a line begins `start:`); without the
    directive it tries GBNF, which refuses `?start:` (tests/test_vllm_contract.py runs vLLM's code)."""
    grammar = f'{start}: "yes" | "no"'
    kwargs = _kwargs(PyConstraintIR(name="answer", grammar=grammar))
    assert kwargs["structured_outputs"] == {"grammar": LARK_DIRECTIVE + grammar}
    sent = LARK_DIRECTIVE + grammar
    assert _lark_accepts(sent, "yes") and not _lark_accepts(sent, "maybe")


def _nested(depth: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "integer"}
    for _ in range(depth - 1):
        schema = {"type": "array", "items": schema}
    return schema


def test_json_nesting_is_counted_as_vllm_counts_it() -> None:
    assert json_nesting({"type": "integer"}) == 1
    assert json_nesting(POINT) == 3  # the schema, its properties, each property's schema
    assert json_nesting([[], {"a": [1]}]) == 3
    assert json_nesting("flat") == 0
    assert json_nesting(_nested(5000)) == 5000  # level by level: no recursion limit


async def test_a_schema_deeper_than_vllm_takes_is_refused_naming_it() -> None:
    deep = PyConstraintIR(name="deep", json_schema=json.dumps(_nested(VLLM_MAX_JSON_NESTING + 1)))
    ok = PyConstraintIR(name="ok", json_schema=json.dumps(_nested(VLLM_MAX_JSON_NESTING)))
    check_vllm_limits(structured_plan(compile_constraints([ok])), compile_constraints([ok]))
    compiled = compile_constraints([PyConstraintIR(name="id", regex_patterns=["[a-z]+"]), deep])
    engine = VLLMEngine("m")  # no vLLM here: refused before any model is loaded or waited for
    with pytest.raises(ConstraintRefused, match=r"constraint 'deep' \(json_schema\).*65 levels.*at most 64") as info:
        await engine.generate(EngineRequest(prompt="p"), compiled)
    assert isinstance(info.value, EngineError) and info.value.constraint == "deep"


def test_json_and_regex_enforce_the_json_and_validate_the_regex() -> None:
    compiled = compile_constraints(
        [
            PyConstraintIR(name="point", json_schema=json.dumps(POINT)),
            PyConstraintIR(name="short", regex_patterns=[r".{1,20}"]),
        ]
    )
    plan = structured_plan(compiled)
    kwargs = sampling_kwargs(EngineRequest(prompt="p"), plan)
    assert kwargs["structured_outputs"] == {"json": POINT}
    assert plan.enforced == ["point"]
    assert plan.validated_only == ["short"]
    _assert_no_guided(kwargs)


def test_no_constraints_send_no_structured_outputs() -> None:
    kwargs = _kwargs()
    assert "structured_outputs" not in kwargs
    _assert_no_guided(kwargs)


def test_sampling_settings_are_carried_over() -> None:
    kwargs = _kwargs(max_tokens=77, temperature=0.3, top_p=0.9, stop=["\n\n", "```"], seed=11)
    assert kwargs == {"max_tokens": 77, "temperature": 0.3, "top_p": 0.9, "stop": ["\n\n", "```"], "seed": 11}


def test_chat_requests_go_through_the_chat_template() -> None:
    seen: list[list[dict[str, str]]] = []

    def template(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return "|".join(f"{m['role']}:{m['content']}" for m in messages) + "|assistant:"

    request = EngineRequest(prompt="Write a haiku.", system="Be brief.")
    assert prompt_text(request, template) == "system:Be brief.|user:Write a haiku.|assistant:"
    assert seen == [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Write a haiku."}]]


def test_the_system_message_names_the_constraints() -> None:
    request = EngineRequest(prompt="x", constraints=[PyConstraintIR(name="n", regex_patterns=["[0-9]+"])])
    messages: list[list[dict[str, str]]] = []
    prompt_text(request, lambda m: messages.append(m) or "")
    system = messages[0][0]["content"]
    assert system.startswith(DEFAULT_SYSTEM) and "[0-9]+" in system


def test_raw_requests_and_models_without_a_template_get_the_prompt_as_is() -> None:
    def template(messages: list[dict[str, str]]) -> str:
        raise AssertionError("a raw request must not be templated")

    assert prompt_text(EngineRequest(prompt="def f(", chat=False), template) == "def f("
    assert prompt_text(EngineRequest(prompt="def f("), None) == "def f("


def test_cumulative_text_becomes_deltas() -> None:
    sent, deltas = "", []
    for cumulative in ["", "de", "def", "def f(", "def f("]:
        delta = text_delta(sent, cumulative)
        sent += delta
        deltas.append(delta)
    assert deltas == ["", "de", "f", " f(", ""]
    assert text_delta("abc", "abX") == ""  # never re-sends or contradicts what was sent


def test_finish_reasons_map_to_ours() -> None:
    assert finish_reason("stop") == "stop"
    assert finish_reason("length") == "length"
    assert finish_reason("abort") == "cancelled"
    with pytest.raises(EngineError, match="error"):
        finish_reason("error")


def test_engine_args_select_llguidance_with_compact_json() -> None:
    # Only fields vLLM's StructuredOutputsConfig has (it forbids others): tests/test_vllm_contract.py
    # checks them against the pinned source, and that a named backend never falls back.
    kwargs = engine_kwargs("Qwen/Qwen2.5-Coder-7B-Instruct", max_model_len=8192, gpu_memory_utilization=0.8)
    assert kwargs["structured_outputs_config"] == STRUCTURED_OUTPUTS_CONFIG
    assert STRUCTURED_OUTPUTS_CONFIG == {"backend": "guidance", "disable_any_whitespace": True}
    assert kwargs["max_model_len"] == 8192 and kwargs["gpu_memory_utilization"] == 0.8
    assert "download_dir" not in kwargs  # HF_HOME decides, unless a directory is given
    assert engine_kwargs("m", download_dir="/weights/hf")["download_dir"] == "/weights/hf"
    _assert_no_guided(kwargs)


def test_importing_the_engine_does_not_import_vllm() -> None:
    code = "import sys, modal_service.vllm_engine as m; m.VLLMEngine('x'); print('vllm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_without_vllm_the_engine_reports_why() -> None:
    engine = VLLMEngine("Qwen/Qwen2.5-Coder-7B-Instruct")
    assert isinstance(engine, Engine)
    assert engine.name == "vllm" and engine.model == "Qwen/Qwen2.5-Coder-7B-Instruct"
    if importlib.util.find_spec("vllm") is not None:  # pragma: no cover - a machine with vLLM installed
        pytest.skip("vLLM is installed here")
    health = await engine.health()
    assert not health.ok and "vllm" in health.detail
    with pytest.raises(EngineError, match="could not load"):
        await engine.generate(EngineRequest(prompt="hi"))


# -- the adapter, over a stand-in for vLLM -----------------------------------------------------
# vLLM needs a GPU and is not installed here. The stand-in below is a few fake `vllm` modules
# shaped like the vLLM API the adapter calls (AsyncEngineArgs, AsyncLLM.from_engine_args,
# generate() yielding cumulative RequestOutputs, abort(), SamplingParams, StructuredOutputsParams,
# StructuredOutputsConfig); everything of ours runs for real.


class _Recorded:
    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs


class _Tokenizer:
    chat_template = "{{ messages }}"

    def apply_chat_template(
        self, messages: list[dict[str, str]], *, tokenize: bool, add_generation_prompt: bool
    ) -> str:
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [0] * add_special_tokens + list(text.encode())


class _FakeLLM:
    builds = 0
    last: _FakeLLM | None = None

    def __init__(self, args: _Recorded) -> None:
        self.args = args
        self.script: list[tuple[str, str | None]] = []  # cumulative text, finish reason
        self.error: Exception | None = None
        self.requests: list[tuple[dict[str, list[int]], _Recorded, str]] = []
        self.aborted: list[str] = []
        self.closed: list[str] = []

    @classmethod
    def from_engine_args(cls, args: _Recorded) -> _FakeLLM:
        cls.builds += 1
        time.sleep(0.05)  # loading takes a while: concurrent first requests overlap
        cls.last = cls(args)
        return cls.last

    def get_tokenizer(self) -> _Tokenizer:
        return _Tokenizer()

    async def check_health(self) -> None:
        return None

    async def generate(self, prompt: dict[str, list[int]], params: _Recorded, request_id: str) -> AsyncIterator[object]:
        self.requests.append((prompt, params, request_id))
        try:
            if self.error is not None:
                raise self.error
            for i, (text, reason) in enumerate(self.script):
                await asyncio.sleep(0)
                completion = SimpleNamespace(text=text, token_ids=list(range(i + 1)), finish_reason=reason)
                yield SimpleNamespace(outputs=[completion], prompt_token_ids=prompt["prompt_token_ids"])
        except GeneratorExit:
            self.closed.append(request_id)
            raise

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[_FakeLLM]:
    _FakeLLM.builds, _FakeLLM.last = 0, None
    names = {
        "vllm": {"SamplingParams": _Recorded},
        "vllm.sampling_params": {"StructuredOutputsParams": _Recorded},
        "vllm.config": {"StructuredOutputsConfig": _Recorded},
        "vllm.engine": {},
        "vllm.engine.arg_utils": {"AsyncEngineArgs": _Recorded},
        "vllm.v1": {},
        "vllm.v1.engine": {},
        "vllm.v1.engine.async_llm": {"AsyncLLM": _FakeLLM},
    }
    for name, attrs in names.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    return _FakeLLM


async def _loaded(engine: VLLMEngine, *script: tuple[str, str | None]) -> _FakeLLM:
    assert (await engine.health()).ok
    llm = _FakeLLM.last  # built by the adapter, through AsyncLLM.from_engine_args
    assert llm is not None
    llm.script = list(script)
    return llm


async def test_stream_turns_cumulative_outputs_into_deltas_and_a_result(fake_vllm: type[_FakeLLM]) -> None:
    engine = VLLMEngine("Qwen/Qwen2.5-Coder-7B-Instruct", max_model_len=4096)
    llm = await _loaded(engine, ("", None), ("ab", None), ("abc", None), ("abc12", "stop"))
    args = llm.args.kwargs
    assert args["model"] == "Qwen/Qwen2.5-Coder-7B-Instruct" and args["max_model_len"] == 4096
    config = args["structured_outputs_config"]
    assert isinstance(config, _Recorded) and config.kwargs == STRUCTURED_OUTPUTS_CONFIG  # not a bare dict

    compiled = compile_constraints([PyConstraintIR(name="id", regex_patterns=["[a-z]+[0-9]*"])])
    request = EngineRequest(prompt="Name it.", constraints=[], temperature=0.0, max_tokens=9)
    items = [item async for item in engine.stream(request, compiled)]
    assert items[:-1] == ["ab", "c", "12"]
    result = items[-1]
    assert isinstance(result, EngineResult)
    assert (result.text, result.finish_reason, result.tokens_generated) == ("abc12", "stop", 4)
    assert (result.engine, result.model, result.enforced) == ("vllm", "Qwen/Qwen2.5-Coder-7B-Instruct", ["id"])
    assert result.prefill_ms >= 0 and result.decode_ms >= 0 and result.compile_ms == 0.0

    prompt, params, _ = llm.requests[0]
    templated = "<system>" + request.system_prompt() + "<user>Name it.<assistant>"
    assert prompt["prompt_token_ids"] == list(templated.encode())  # the template brings its own BOS
    assert result.prompt_tokens == len(prompt["prompt_token_ids"])
    structured = params.kwargs.pop("structured_outputs")
    assert isinstance(structured, _Recorded) and structured.kwargs == {"regex": "[a-z]+[0-9]*"}
    assert params.kwargs == sampling_kwargs(request, structured_plan(None))
    assert (await engine.health()).tokens_decoded == 4


async def test_raw_prompts_get_the_tokenizers_special_tokens(fake_vllm: type[_FakeLLM]) -> None:
    engine = VLLMEngine("m")
    llm = await _loaded(engine, ("x", "length"))
    result = await engine.generate(EngineRequest(prompt="def f(", chat=False))
    assert result.finish_reason == "length"
    assert llm.requests[0][0]["prompt_token_ids"] == [0, *b"def f("]
    assert llm.requests[0][1].kwargs["structured_outputs"] is None


async def test_closing_the_stream_aborts_the_request(fake_vllm: type[_FakeLLM]) -> None:
    engine = VLLMEngine("m")
    llm = await _loaded(engine, *[("a" * n, None) for n in range(1, 50)])
    stream = engine.stream(EngineRequest(prompt="go"))
    assert await anext(stream) == "a"
    await stream.aclose()  # what the service does when the client disconnects
    request_id = llm.requests[0][2]
    assert llm.closed == [request_id] and llm.aborted == [request_id]


async def test_a_finished_request_is_not_aborted(fake_vllm: type[_FakeLLM]) -> None:
    engine = VLLMEngine("m")
    llm = await _loaded(engine, ("done", "stop"))
    await engine.generate(EngineRequest(prompt="go"))
    assert llm.aborted == []


async def test_an_aborted_request_reports_cancelled(fake_vllm: type[_FakeLLM]) -> None:
    engine = VLLMEngine("m")
    await _loaded(engine, ("par", None), ("partial", "abort"))
    assert (await engine.generate(EngineRequest(prompt="go"))).finish_reason == "cancelled"


async def test_a_request_vllm_rejects_is_an_engine_error(fake_vllm: type[_FakeLLM]) -> None:
    engine = VLLMEngine("m")
    llm = await _loaded(engine)
    llm.error = ValueError("Grammar error: unknown rule")
    with pytest.raises(EngineError, match="Grammar error"):
        await engine.generate(EngineRequest(prompt="go"))


async def test_concurrent_first_requests_build_the_engine_once(fake_vllm: type[_FakeLLM]) -> None:
    engine = VLLMEngine("m")
    healths = await asyncio.gather(*(engine.health() for _ in range(5)))
    assert all(h.ok for h in healths) and fake_vllm.builds == 1
