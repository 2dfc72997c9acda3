"""JSON-schema constraints that the extraction and repair tests share."""

from __future__ import annotations

import json

from ananke_lsp.api_types import PyConstraintIR as C

SHAPE = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}
SMALL = {"type": "object", "properties": {"n": {"maximum": 9}}}
# Two schemas: a server taking one structured output enforces the first and the second is only
# validated, so the engine did not enforce every constraint.
TWO_SCHEMAS = [C(name="shape", json_schema=json.dumps(SHAPE)), C(name="small", json_schema=json.dumps(SMALL))]
