"""Fill a JSON (or YAML) document from its schema: the schema named for the file in
`.ananke.toml`, or the document's own `$schema` when it is a local file inside the project that
no privacy rule excludes (a remote schema is never fetched). The generated document is held to the
schema token by token."""

from __future__ import annotations

import json
import logging
import re

from lsprotocol import types

from ..api_types import PyConstraintIR
from ..config.load import read_project_file
from ..engines.base import EngineRequest
from ..errors import RequestRefused
from .code_actions import Job, Offer, end_of
from .prompts import render, system
from .targets import Target

LANGUAGES = frozenset({"json", "jsonc", "yaml"})
log = logging.getLogger("ananke_lsp.server")
_SCHEMA_REF = re.compile(r'"\$schema"\s*:\s*"([^"]+)"|^\$schema:\s*["\']?([^"\'\s]+)|\$schema=(\S+)', re.MULTILINE)


def _schema_ref(text: str) -> str | None:
    found = _SCHEMA_REF.search(text)
    return next((g for g in found.groups() if g), None) if found else None


def _is_unfilled(text: str) -> bool:
    """Nothing but whitespace, `{}`, comments or a `$schema` reference: filling loses nothing."""
    body = _SCHEMA_REF.sub("", text)
    body = re.sub(r"#[^\n]*|//[^\n]*", "", body)
    return re.fullmatch(r"[\s{},]*", body) is not None


def _local_schema(target: Target, ref: str) -> PyConstraintIR | None:
    if "://" in ref or target.path is None:
        return None
    project = target.project
    text, problem = read_project_file(project.root, target.path.parent / ref, project.is_excluded)
    if text is None:
        log.info("the $schema of %s is not used: %s", target.path.name, problem)
        return None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError:
        schema = None  # compiling it reports the error, naming the constraint
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        # the document keeps its own reference: held by the constraint, not pasted in afterwards
        schema["properties"] = {"$schema": {"const": ref}, **schema["properties"]}
        schema["required"] = ["$schema", *[r for r in schema.get("required", []) if r != "$schema"]]
        text = json.dumps(schema)
    return PyConstraintIR(name=f"$schema:{ref}", json_schema=text)


def _schemas(target: Target) -> list[PyConstraintIR]:
    named = [c for c in target.constraints("fill_json") if c.json_schema]
    if named:
        return target.constraints("fill_json")
    ref = _schema_ref(target.doc.source)
    local = _local_schema(target, ref) if ref else None
    return [local, *target.constraints("fill_json")] if local else []


class FillJson:
    name = "fill_json"

    def offers(self, target: Target, selection: types.Range) -> list[Offer]:
        if target.doc.language_id not in LANGUAGES or not _is_unfilled(target.doc.source):
            return []
        schemas = [c.name for c in _schemas(target) if c.json_schema]
        return [Offer(f"Fill JSON from schema '{schemas[0]}'", [])] if schemas else []

    def prepare(self, target: Target, args: list[object]) -> Job:
        constraints = _schemas(target)
        if not any(c.json_schema for c in constraints):
            raise RequestRefused("no schema applies to this file any more; request code actions again")
        settings = target.project.settings.generation
        name = target.path.name if target.path else "document"
        schema_name = next(c.name for c in constraints if c.json_schema)
        request = EngineRequest(
            prompt=render(target, "fill_json", name=name, schema_name=schema_name),
            system=system(target, "fill_json"),
            chat=True,
            constraints=constraints,
            max_tokens=max(settings.max_tokens, 512),
            context=target.context,
        )
        lines = target.doc.source.split("\n")
        whole = types.Range(start=types.Position(line=0, character=0), end=end_of(lines, len(lines)))
        return Job(request, whole, lambda text: text.rstrip("\n") + "\n")
