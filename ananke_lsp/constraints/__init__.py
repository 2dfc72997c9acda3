"""Constraints: compile to llguidance, hash, cache, validate."""

from .cache import ConstraintCache
from .compile import CompiledConstraints, ConstraintError, ConstraintPart, compile_constraints, constraints_hash
from .validate import validate_text

__all__ = [
    "CompiledConstraints",
    "ConstraintCache",
    "ConstraintError",
    "ConstraintPart",
    "compile_constraints",
    "constraints_hash",
    "validate_text",
]
