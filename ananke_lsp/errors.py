"""Every exception ananke raises on purpose, in one tree. Each message says what went wrong and what
to do about it; catch ``AnankeError`` for all of them. The classes the seed's API promises as
``RuntimeError`` still are, and those raised for bad input are also ``ValueError``::

    AnankeError
    ├── SettingsError (RuntimeError)     an environment variable or argument that cannot be used
    ├── ConfigError (RuntimeError)       a `.ananke.toml` that cannot be used; ``issues`` says where
    ├── ConstraintError (RuntimeError)   a constraint that does not compile; names it
    ├── PrefixRejected (ValueError)      a grammar does not admit the text before the cursor
    ├── PromptError (ValueError)         a prompt template that does not render
    ├── ModelError (RuntimeError)        a model that is missing, unknown or fails its hash
    ├── EngineError (RuntimeError)       a generation that could not run
    │   ├── PromptTooLongError           the prompt does not fit the model's context
    │   ├── HttpError                    a remote engine answered with an error status
    │   └── ConstraintRefused            (also a ConstraintError) compiles, but the engine will not take it
    ├── ServiceError                     `modal_service`: an HTTP error answer (status, ``ErrorBody``)
    ├── ClientGone                       `modal_service`: the client left before its answer (a 499)
    ├── FrameError                       an LSP message frame that cannot be read (the server reads on)
    └── RequestRefused                   the language server will not do what an editor asked
        ├── Excluded                     the file matches a privacy rule: nothing from it is sent
        ├── StaleBuffer                  the document changed under the request
        └── NothingApplied               a code action generated nothing worth applying

``ConstraintRefused`` lives in `modal_service.vllm_engine`, ``ServiceError`` and ``ClientGone`` in
`modal_service.errors` (they need the service's dependencies); every other class is here.
Low-level errors (httpx's, llguidance's, the OS's) are translated where they are caught: by the
HTTP transport into ``EngineError``, by the constraint compiler into ``ConstraintError``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AnankeError(Exception):
    """The root of everything ananke raises on purpose."""


class SettingsError(AnankeError, RuntimeError):
    """A setting (an environment variable, an API argument) that cannot be used; names it."""


class ConfigIssue(BaseModel):
    """One problem in a `.ananke.toml`, positioned so an editor can show it on the offending line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    line: int = Field(ge=1)  # 1-based
    column: int = Field(ge=1)  # 1-based
    message: str
    key: str | None = None  # dotted path of the offending key, e.g. "constraints[2].regex"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(AnankeError, RuntimeError):
    """The file cannot be used; ``issues`` says every place why (at least one)."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.column))
        super().__init__("\n".join(str(issue) for issue in self.issues))


class ConstraintError(AnankeError, RuntimeError):
    """A constraint that cannot be compiled; the message names it and gives llguidance's reason."""

    def __init__(self, constraint: str, kind: str, reason: str) -> None:
        self.constraint = constraint
        self.kind = kind
        self.reason = reason
        super().__init__(f"constraint '{constraint}' ({kind}) does not compile: {reason}")


class PrefixRejected(AnankeError, ValueError):
    """The grammar does not admit the prefix; ``line`` and ``column`` (1-based) say where."""

    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column
        super().__init__(f"rejected at line {line}, column {column} of the prefix")


class PromptError(AnankeError, ValueError):
    """A prompt template could not be rendered; the message names the template and says why."""


class ModelError(AnankeError, RuntimeError):
    """A model that is missing, unknown or fails verification; the message says what to do."""


class EngineError(AnankeError, RuntimeError):
    """A generation that could not run; the message says why and what to do."""


class PromptTooLongError(EngineError):
    """The prompt does not fit the model's context: the request, not the engine, is at fault."""


class HttpError(EngineError):
    """A remote engine answered ``status``; the message says what it said and what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FrameError(AnankeError):
    """A frame that cannot be read; the reader resumes at the next header."""


class RequestRefused(AnankeError):
    """An editor request the language server answers with an error, its message shown as is."""


class Excluded(RequestRefused):
    """The file matches a privacy rule: nothing from it may be sent to any engine."""


class StaleBuffer(RequestRefused):
    """The document changed since the request was made: nothing is applied."""


class NothingApplied(RequestRefused):
    """A code action's generation is not worth applying (violates a constraint, would not parse)."""
