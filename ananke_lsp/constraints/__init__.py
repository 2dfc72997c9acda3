"""Constraints: compile to llguidance, hash, cache, validate."""

from .cache import ConstraintCache
from .compile import CompiledConstraints, ConstraintPart, compile_constraints, constraints_hash
from .validate import longest_valid_prefix, validate_text

__all__ = [
    "CompiledConstraints",
    "ConstraintCache",
    "ConstraintPart",
    "compile_constraints",
    "constraints_hash",
    "longest_valid_prefix",
    "validate_text",
]
