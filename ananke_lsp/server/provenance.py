"""What `ananke.showProvenance` reports about the last generation: which engine and model, which
constraints were enforced or only checked, what it cost, how it was sampled, and how Python
syntax was held. The editor reads these keys; they are this model's field names."""

from __future__ import annotations

from pydantic import BaseModel

from ..api_types import PyRepair
from ..context.python_syntax import PythonSyntax
from ..engines.base import EngineRequest
from ..generation import Outcome


class PythonSyntaxNote(BaseModel):
    # enforced token by token (False: why not is in ``detail``); None: the parse check only
    grammar: bool | None
    detail: str | None
    cut_chars: int | None  # cut off by the parse check; None: the file is too large to parse

    @classmethod
    def of(cls, syntax: PythonSyntax | None, cut: int | None) -> PythonSyntaxNote:
        """``syntax``: the grammar's verdict, None where the settings ask only for the parse check."""
        if syntax is None:
            return cls(grammar=None, detail=None, cut_chars=cut)
        return cls(grammar=syntax.constraint is not None, detail=syntax.reason, cut_chars=cut)


class Provenance(BaseModel):
    file: str
    model: str
    engine: str
    constraints: list[str]
    enforced: list[str]
    violated: dict[str, str]  # constraint -> why
    tokens: int
    prompt_tokens: int
    prefilled_tokens: int | None  # of the prompt's tokens, those evaluated (not from the KV cache)
    generation_ms: float
    decode_ms: float
    mask_us: int  # checking and masking tokens, in all
    compile_ms: float
    finish_reason: str
    profile: str | None
    temperature: float
    top_p: float
    seed: int | None
    extracted: bool  # taken out of an instruct model's fences or prose
    repairs: list[PyRepair]  # answers asked again, and why
    python_syntax: PythonSyntaxNote | None = None

    @classmethod
    def of(cls, file: str, outcome: Outcome, request: EngineRequest, profile: str | None) -> Provenance:
        r, validation = outcome.result, outcome.validation
        return cls(
            file=file,
            model=r.model,
            engine=r.engine,
            constraints=validation.satisfied + validation.violated,
            enforced=validation.enforced,
            violated=validation.errors,
            tokens=r.tokens_generated,
            prompt_tokens=r.prompt_tokens,
            prefilled_tokens=r.prefilled_tokens,
            generation_ms=round(r.generation_ms, 1),
            decode_ms=round(r.decode_ms, 1),
            mask_us=round(r.mask_us_total),
            compile_ms=round(outcome.compile_ms, 2),
            finish_reason=r.finish_reason,
            profile=profile,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            extracted=outcome.extracted,
            repairs=list(outcome.repairs),
        )

    def report(self) -> dict[str, object]:
        """The JSON the command answers; ``python_syntax`` only where it was noted."""
        return self.model_dump(mode="json", exclude=None if self.python_syntax else {"python_syntax"})
