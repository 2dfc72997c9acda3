"""The one seam every generator implements: ``Engine``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Annotated, Literal, Protocol, runtime_checkable

import llguidance as llg
from pydantic import BaseModel, ConfigDict, Field

from ..api_types import PyConstraintIR, PyGenerationContext
from ..constraints import CompiledConstraints
from ..errors import EngineError
from .fim import ContextFile
from .line_stops import LineStops

DEFAULT_SYSTEM = "You are a precise code generator. Answer with the requested output only."
# "time": decoding ran past the request's max_predict_ms and stopped at a line's end
FinishReason = Literal["stop", "length", "time", "cancelled", "constraint_conflict"]
# Stop strings per request, and characters per stop string: every one is checked as each token
# arrives, so a request may not make that work (or its memory) as large as it likes.
MAX_STOPS = 16
MAX_STOP_CHARS = 1024
MAX_CONTEXT_FILES = 16
# A constraint longer than this is not described in the system prompt (a large grammar would fill
# the model's context); the model is held to it all the same.
MAX_SHOWN_CONSTRAINT = 2000
BUFFER_PREFIX = "buffer:"  # the names of constraints derived from the editor buffer


class EngineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str
    # True: the prompt is an instruction and goes through the model's chat template.
    # False: the prompt is raw text the model continues (code completion).
    chat: bool = True
    system: str | None = None
    constraints: list[PyConstraintIR] = Field(default_factory=list)
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[Annotated[str, Field(max_length=MAX_STOP_CHARS)]] = Field(default_factory=list, max_length=MAX_STOPS)
    seed: int | None = None
    context: PyGenerationContext | None = None
    # Text after the cursor: engines whose model knows fill-in-the-middle tokens use it, with
    # ``prompt`` as the prefix; others continue ``prompt`` alone.
    suffix: str | None = None
    # Where a code suggestion ends line by line (a retyped next line, a dedent, blank lines);
    # the embedded engine stops decoding there, other engines' text is cut afterwards.
    line_stops: LineStops | None = None
    # Milliseconds of decoding after which the suggestion ends at its next line end ("time"), as
    # llama.cpp's t_max_predict_ms: a multi-line suggestion no one would wait for is cut to whole
    # lines. The prompt is not timed (a cancel stops it). Engines fast anyway (a GPU) may ignore it.
    max_predict_ms: float | None = Field(default=None, gt=0)
    # Other files of the project, shown before this one to models that know the repository form.
    files: list[ContextFile] = Field(default_factory=list, max_length=MAX_CONTEXT_FILES)

    def system_prompt(self) -> str:
        """The system message for chat prompts: the default, what the context says, and the
        shape the answer must take (a model that knows the schema wanders less inside it)."""
        lines = [self.system or DEFAULT_SYSTEM]
        ctx = self.context
        if ctx is not None:
            facts = (("Language", ctx.language), ("File", ctx.current_file), ("Project", ctx.project_root))
            lines += [f"{label}: {value}" for label, value in facts if value]
        # Constraints taken from the code around the cursor describe its shape, not the answer's
        # content: shown to a small model, it answered with the regex itself.
        for c in (c for c in self.constraints if not c.name.startswith(BUFFER_PREFIX)):
            if c.json_schema and len(c.json_schema) <= MAX_SHOWN_CONSTRAINT:
                lines.append(f"Answer with JSON matching this JSON schema: {c.json_schema}")
            if c.grammar and len(c.grammar) <= MAX_SHOWN_CONSTRAINT:
                lines.append(f"Answer in the language of this grammar:\n{c.grammar}")
            shown = [r for r in c.regex_patterns if len(r) <= MAX_SHOWN_CONSTRAINT]
            lines += [f"Answer with text matching the regular expression: {r}" for r in shown]
        return "\n".join(lines)


class EngineResult(BaseModel):
    text: str
    finish_reason: FinishReason
    tokens_generated: int
    prompt_tokens: int
    # of those, how many were evaluated: the rest came from the KV cache of an earlier request
    prefilled_tokens: int | None = None
    prefill_ms: float
    decode_ms: float
    compile_ms: float
    mask_us_total: float = 0.0
    model: str
    engine: str
    enforced: list[str] = Field(default_factory=list)
    # tokens the engine placed itself to finish a constrained output inside max_tokens
    closing_tokens: int = 0

    @property
    def generation_ms(self) -> float:
        return self.prefill_ms + self.decode_ms


class EngineHealth(BaseModel):
    ok: bool
    engine: str
    model: str
    detail: str = ""
    tokens_decoded: int | None = None  # lifetime count, where the engine can tell (shows that work stops)


# Text deltas, then one final ``EngineResult``; closing the generator stops the work.
EngineStream = AsyncGenerator[str | EngineResult, None]


@runtime_checkable
class Engine(Protocol):
    name: str

    @property
    def model(self) -> str: ...

    def stream(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineStream: ...

    async def generate(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineResult: ...

    async def health(self) -> EngineHealth: ...

    def llg_tokenizer(self) -> llg.LLTokenizer | None:
        """The model's tokenizer for llguidance where the model runs in this process: constraints
        compiled with it get this model's matchers in the same pass. None for a remote model.
        May load the model: call it off the event loop."""
        ...

    def token_counter(self) -> Callable[[str], int] | None:
        """Counts tokens in the model's vocabulary (to fit a prompt into a token budget), where
        the model runs in this process; None for a remote model (prompts are fitted by characters)."""
        ...


class WithoutTokenizer:
    """For engines that hand the constraints to a server (a remote service, vLLM): no llguidance
    tokenizer and no token count here; the server has the tokenizer."""

    def llg_tokenizer(self) -> None:
        return None

    def token_counter(self) -> None:
        return None


async def collect(stream: EngineStream) -> EngineResult:
    """Drain a stream and return its final result; closing it on the way out (also when the
    caller is cancelled) is what stops the engine's work."""
    try:
        async for item in stream:
            if isinstance(item, EngineResult):
                return item
        raise EngineError("the engine stream ended without a result")
    finally:
        await stream.aclose()
