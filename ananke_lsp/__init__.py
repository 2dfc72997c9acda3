"""ananke-lsp: constrained code generation in the editor.

The public Python API is the original Ananke's: import it from here."""

from .api import Ananke
from .api_types import (
    PyConstraintIR,
    PyGenerationContext,
    PyGenerationMetadata,
    PyGenerationRequest,
    PyGenerationResponse,
    PyModalConfig,
    PyProvenance,
    PyValidationResult,
)
from .errors import ConstraintError

__all__ = [
    "Ananke",
    "ConstraintError",
    "PyConstraintIR",
    "PyGenerationContext",
    "PyGenerationMetadata",
    "PyGenerationRequest",
    "PyGenerationResponse",
    "PyModalConfig",
    "PyProvenance",
    "PyValidationResult",
]
__version__ = "0.1.0"
