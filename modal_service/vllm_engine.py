"""The vLLM engine (GPU, on Modal): vLLM's async engine with llguidance as its structured-output
backend. vLLM takes ONE structured output per request, so `structured_plan` decides what it
enforces; the service validates the rest afterwards.

vLLM is imported lazily, inside methods: this module must import on machines without a GPU
(tests, `modal deploy`). The request → vLLM mapping lives in pure functions tested as data."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid
from collections.abc import Callable
from typing import Any

from ananke_lsp.constraints import CompiledConstraints
from ananke_lsp.constraints.plan import StructuredPlan, structured_plan
from ananke_lsp.engines.base import (
    EngineHealth,
    EngineRequest,
    EngineResult,
    EngineStream,
    FinishReason,
    WithoutTokenizer,
    collect,
)
from ananke_lsp.errors import ConstraintError, EngineError

# Messages in, prompt text out: the tokenizer's chat template.
ChatTemplate = Callable[[list[dict[str, str]]], str]

# Engine-level structured-output settings. `guidance` is llguidance, the library our constraints
# compile and validate with. Once a backend is named, vLLM never falls back to another (only `auto`
# does), so nothing is silently relaxed; compact JSON, as the embedded engine enforces (a model free
# to pad whitespace can pad forever). vLLM forbids unknown fields here: tests/test_vllm_contract.py
# checks each key against the pinned release's `StructuredOutputsConfig`.
STRUCTURED_OUTPUTS_CONFIG: dict[str, Any] = {
    "backend": "guidance",
    "disable_any_whitespace": True,
}


# vLLM refuses a JSON schema whose document nests objects and arrays deeper than this
# (`MAX_STRUCTURED_OUTPUT_JSON_NESTING`; the contract test reads the value from vLLM's source). Our
# compiler allows 128, which the embedded engine enforces, so this engine checks vLLM's limit itself
# and names the constraint, rather than lowering the limit for every engine.
VLLM_MAX_JSON_NESTING = 64

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length", "abort": "cancelled"}


class ConstraintRefused(ConstraintError, EngineError):
    """A constraint that compiles but that vLLM will not take: a `ConstraintError` naming it (the
    request's fault), and an `EngineError` for callers that only handle engine failures."""


def json_nesting(value: object) -> int:
    """How many levels of objects and arrays a JSON value nests, counted as vLLM counts them (a
    flat object is 1). Level by level, not recursively: the value may be deep."""
    depth, level = 0, [value]
    while level := [node for node in level if isinstance(node, dict | list)]:
        depth += 1
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)]
    return depth


def check_vllm_limits(plan: StructuredPlan, compiled: CompiledConstraints | None) -> None:
    """Refuse, naming the constraint, what vLLM would refuse with a bare 400 of its own."""
    if plan.kind != "json" or compiled is None:
        return
    depth = json_nesting(plan.value)
    if depth > VLLM_MAX_JSON_NESTING:
        # the plan sends the first JSON schema (no grammar comes before it, or that would be sent)
        name = next(p.constraint for p in compiled.parts if p.kind == "json_schema")
        reason = (
            f"it nests objects and arrays {depth} levels deep, and this service's engine (vLLM) takes at most "
            f"{VLLM_MAX_JSON_NESTING}; flatten the schema, or use an engine without that limit (the embedded one)"
        )
        raise ConstraintRefused(name, "json_schema", reason)


def structured_outputs(plan: StructuredPlan) -> dict[str, Any] | None:
    """The fields of `StructuredOutputsParams` that enforce ``plan``; None when it enforces nothing."""
    if plan.kind is None:
        return None
    return {plan.kind: plan.value}


def sampling_kwargs(request: EngineRequest, plan: StructuredPlan) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams`. `structured_outputs` is a plain dict here
    (the fields of `StructuredOutputsParams`), absent when there is nothing to enforce. Never
    the `guided_*` fields: vLLM removed them in 0.12. `SamplingParams` refuses them (a TypeError);
    vLLM's OpenAI server accepts and ignores them, with only a warning in its log."""
    kwargs: dict[str, Any] = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": list(request.stop),
        "seed": request.seed,
    }
    structured = structured_outputs(plan)
    if structured is not None:
        kwargs["structured_outputs"] = structured
    return kwargs


def prompt_text(request: EngineRequest, chat_template: ChatTemplate | None) -> str:
    """Chat requests go through the model's chat template (when it has one); raw requests are
    continued as they are."""
    if request.chat and chat_template is not None:
        messages = [
            {"role": "system", "content": request.system_prompt()},
            {"role": "user", "content": request.prompt},
        ]
        return chat_template(messages)
    return request.prompt


def text_delta(sent: str, text: str) -> str:
    """What cumulative ``text`` adds to what was already ``sent``. vLLM holds back text that may
    begin a stop string, so its cumulative text only grows; if it ever did not, nothing is sent
    and the final result still carries the full text."""
    return text[len(sent) :] if text.startswith(sent) else ""


def finish_reason(reason: str | None) -> FinishReason:
    """vLLM's finish reason in our terms; an engine-side error is an `EngineError`."""
    if reason is None:
        return "stop"
    if reason in _FINISH:
        return _FINISH[reason]
    raise EngineError(f"vLLM ended the request with finish reason {reason!r}")


def engine_kwargs(
    model: str,
    *,
    download_dir: str | None = None,
    gpu_memory_utilization: float = 0.9,
    max_model_len: int | None = None,
    tensor_parallel_size: int = 1,
) -> dict[str, Any]:
    """Keyword arguments for `vllm.AsyncEngineArgs` (the structured-output config as a dict)."""
    kwargs: dict[str, Any] = {
        "model": model,
        "gpu_memory_utilization": gpu_memory_utilization,
        "tensor_parallel_size": tensor_parallel_size,
        "structured_outputs_config": dict(STRUCTURED_OUTPUTS_CONFIG),
    }
    if download_dir is not None:
        kwargs["download_dir"] = download_dir
    if max_model_len is not None:
        kwargs["max_model_len"] = max_model_len
    return kwargs


def _chat_template(tokenizer: Any) -> ChatTemplate | None:
    if not getattr(tokenizer, "chat_template", None):
        return None  # a base model: chat prompts are sent raw

    def render(messages: list[dict[str, str]]) -> str:
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    return render


class VLLMEngine(WithoutTokenizer):
    """Engine over vLLM's `AsyncLLM`, built on first use (model load takes minutes)."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        download_dir: str | None = None,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
    ) -> None:
        self._model = model
        self._engine_kwargs = engine_kwargs(
            model,
            download_dir=download_dir,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
        )
        self._llm: Any = None  # vllm AsyncLLM
        self._tokenizer: Any = None
        self._chat: ChatTemplate | None = None
        self._lock = asyncio.Lock()  # concurrent first requests build the engine once
        self._failure: str | None = None
        self._load_s = 0.0
        self._tokens_decoded = 0

    @property
    def model(self) -> str:
        return self._model

    async def _engine(self) -> Any:
        if self._llm is not None:
            return self._llm
        async with self._lock:
            if self._failure is not None:
                raise EngineError(self._failure)
            if self._llm is None:
                try:
                    self._llm = await self._build()
                except Exception as exc:
                    self._failure = f"vLLM could not load {self._model}: {type(exc).__name__}: {exc}"
                    raise EngineError(self._failure) from exc
        return self._llm

    async def _build(self) -> Any:
        from vllm.config import StructuredOutputsConfig
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        kwargs = dict(self._engine_kwargs)
        # A plain dict here breaks `create_engine_config`, which sets attributes on it.
        kwargs["structured_outputs_config"] = StructuredOutputsConfig(**kwargs["structured_outputs_config"])
        start = time.perf_counter()
        # Loading blocks for minutes; off the event loop, /v1/health can answer "loading" meanwhile.
        # AsyncLLM expects to be built where no loop runs (its constructor catches the RuntimeError
        # of `get_running_loop`) and starts its output handler on the first request, on our loop.
        # A worker thread is such a place; vLLM's docs do not name it (the contract test reads the code).
        llm = await asyncio.to_thread(AsyncLLM.from_engine_args, AsyncEngineArgs(**kwargs))
        tokenizer = llm.get_tokenizer()
        if inspect.isawaitable(tokenizer):  # async in older vLLM releases
            tokenizer = await tokenizer
        self._tokenizer, self._chat = tokenizer, _chat_template(tokenizer)
        self._load_s = time.perf_counter() - start
        return llm

    async def generate(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineResult:
        return await collect(self.stream(request, compiled))

    async def stream(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineStream:
        plan = structured_plan(compiled)
        check_vllm_limits(plan, compiled)  # before waiting for a model that would refuse it anyway
        llm = await self._engine()  # without vLLM this raises EngineError, with the reason
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        kwargs = sampling_kwargs(request, plan)
        structured = kwargs.pop("structured_outputs", None)
        params = SamplingParams(
            **kwargs, structured_outputs=StructuredOutputsParams(**structured) if structured else None
        )
        text = prompt_text(request, self._chat)
        # A chat template writes its own special tokens (BOS included); raw text gets the tokenizer's.
        templated = request.chat and self._chat is not None
        prompt_ids = list(self._tokenizer.encode(text, add_special_tokens=not templated))

        request_id = f"ananke-{uuid.uuid4().hex}"
        started = time.perf_counter()
        first_at: float | None = None
        sent, counted, last, done = "", 0, None, False
        outputs = llm.generate({"prompt_token_ids": prompt_ids}, params, request_id)
        try:
            async for out in outputs:
                first_at = first_at or time.perf_counter()
                last = out.outputs[0]
                self._tokens_decoded += len(last.token_ids) - counted
                counted = len(last.token_ids)
                delta = text_delta(sent, last.text)
                if delta:
                    sent += delta
                    yield delta
            done = True
        except EngineError:
            raise
        except Exception as exc:  # vLLM rejected the request (a grammar it cannot take) or failed
            raise EngineError(f"vLLM failed: {type(exc).__name__}: {exc}") from exc
        finally:
            if not done:  # the consumer went away (or vLLM failed): stop decoding now
                with contextlib.suppress(Exception):  # an error here must not hide the original one
                    await outputs.aclose()  # vLLM's generator aborts on close itself...
                with contextlib.suppress(Exception):
                    await llm.abort(request_id)  # ...and by id, in case it had not started yet
        if last is None:
            raise EngineError("vLLM returned no output")
        ended = time.perf_counter()
        first = first_at or ended
        yield EngineResult(
            text=last.text,
            finish_reason=finish_reason(last.finish_reason),
            tokens_generated=len(last.token_ids),
            prompt_tokens=len(prompt_ids),
            prefill_ms=(first - started) * 1000,  # queueing + prefill + first token, by the wall clock
            decode_ms=(ended - first) * 1000,
            compile_ms=0.0,  # vLLM compiles the grammar itself and does not report the time
            model=self._model,
            engine=self.name,
            enforced=plan.enforced,
        )

    async def health(self) -> EngineHealth:
        try:
            llm = await self._engine()
            await llm.check_health()
        except Exception as exc:
            detail = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
            return EngineHealth(ok=False, engine=self.name, model=self._model, detail=detail)
        return EngineHealth(
            ok=True,
            engine=self.name,
            model=self._model,
            detail=f"loaded in {self._load_s:.0f} s; structured outputs: {STRUCTURED_OUTPUTS_CONFIG['backend']}",
            tokens_decoded=self._tokens_decoded,
        )
