"""The subset of the OpenAI completions API that vLLM serves, with its `structured_outputs`
extension (vLLM ≥ 0.12; the old `guided_*` fields are ignored there, so they are never used), and
its one translation to and from ananke's engine request and result, for the service's OpenAI
routes and for the engine that speaks to such servers."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..api_types import PyConstraintIR
from .base import EngineRequest, EngineResult, FinishReason

OpenAIFinishReason = Literal["stop", "length"]


def to_openai_finish(reason: FinishReason) -> OpenAIFinishReason:
    """OpenAI knows only a budget that ran out ("length", as ananke's "time" is) and an end."""
    return "length" if reason in ("length", "time") else "stop"


def from_openai_finish(reason: str | None) -> FinishReason:
    """A server's finish reason in ananke's terms (anything but "length" ended the text)."""
    return "length" if reason == "length" else "stop"


class StructuredOutputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    json_: dict[str, object] | bool | str | None = Field(default=None, alias="json")
    regex: str | None = None
    grammar: str | None = None

    def constraints(self) -> list[PyConstraintIR]:
        """The one constraint these fields make, or none when all are empty."""
        if self.json_ is None and self.regex is None and self.grammar is None:
            return []
        schema = self.json_ if isinstance(self.json_, str) or self.json_ is None else json.dumps(self.json_)
        return [
            PyConstraintIR(
                name="structured_outputs",
                json_schema=schema,
                grammar=self.grammar,
                regex_patterns=[self.regex] if self.regex else [],
            )
        ]


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    model: str | None = None
    prompt: str
    max_tokens: int = Field(default=16, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[str] | str | None = None
    seed: int | None = None
    stream: bool = False
    structured_outputs: StructuredOutputs | None = None

    def to_engine_request(self) -> EngineRequest:
        """The engine request for this body: the prompt is raw text the model continues."""
        return self._engine_request(prompt=self.prompt, chat=False, system=None)

    def _engine_request(self, *, prompt: str, chat: bool, system: str | None) -> EngineRequest:
        return EngineRequest(
            prompt=prompt,
            chat=chat,
            system=system,
            constraints=self.structured_outputs.constraints() if self.structured_outputs else [],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=[self.stop] if isinstance(self.stop, str) else list(self.stop or []),
            seed=self.seed,
        )


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: OpenAIFinishReason | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def from_result(cls, result: EngineResult) -> Usage:
        return cls(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.tokens_generated,
            total_tokens=result.prompt_tokens + result.tokens_generated,
        )


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(CompletionRequest):
    prompt: str = ""  # unused: chat requests carry messages
    messages: list[ChatMessage]

    def to_engine_request(self) -> EngineRequest:
        """The system messages become the system prompt, the others the instruction."""
        system = "\n".join(m.content for m in self.messages if m.role == "system") or None
        user = "\n".join(m.content for m in self.messages if m.role != "system")
        return self._engine_request(prompt=user, chat=True, system=system)


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessage
    finish_reason: OpenAIFinishReason | None = None


class ChatResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None
