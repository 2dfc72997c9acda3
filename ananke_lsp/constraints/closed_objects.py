"""Close the objects of a JSON schema for generation.

JSON Schema lets an object carry any key it does not name unless `additionalProperties` says
otherwise. A small model given that freedom invents keys and nests objects until the token
budget runs out (seen in CI: `{"type": {"value": {...` for a schema that names only `result`).
Like xgrammar's strict mode and vLLM's `disable-additional-properties`, the *enforced* grammar
treats an object that names its properties as closed; validation keeps the user's schema, and
every closed-form output is valid under it. An explicit `additionalProperties`,
`patternProperties` or `unevaluatedProperties` is left as written, and so is everything under
`allOf`, where closing each member would make the members contradict each other."""

from __future__ import annotations

from typing import Any

_OPEN_KEYWORDS = ("additionalProperties", "patternProperties", "unevaluatedProperties")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")


def closed_objects(schema: Any) -> Any:
    """A copy of ``schema`` whose objects that name properties allow no other keys."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in out and "allOf" not in out and not any(k in out for k in _OPEN_KEYWORDS):
        out["additionalProperties"] = False
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: closed_objects(sub) for name, sub in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [closed_objects(sub) for sub in out[key]]
    for key in _SCHEMA_VALUES:
        if key in out:
            out[key] = closed_objects(out[key])
    return out
