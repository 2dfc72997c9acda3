"""Problems in a ``.ananke.toml``, positioned so an editor can show them on the offending line."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConfigIssue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    line: int = Field(ge=1)  # 1-based
    column: int = Field(ge=1)  # 1-based
    message: str
    key: str | None = None  # dotted path of the offending key, e.g. "constraints[2].regex"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(RuntimeError):
    """The file cannot be used; ``issues`` says every place why (at least one)."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.column))
        super().__init__("\n".join(str(issue) for issue in self.issues))
