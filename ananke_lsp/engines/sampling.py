"""Token masks and sampling on numpy logits."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def allowed_tokens(bitmasks: NDArray[np.int32], n_vocab: int) -> NDArray[np.bool_]:
    """AND the rows of llguidance bitmasks (one per matcher) into one boolean mask."""
    combined = bitmasks[0] if len(bitmasks) == 1 else np.bitwise_and.reduce(bitmasks, axis=0)
    return np.unpackbits(combined.view(np.uint8), bitorder="little")[:n_vocab].view(np.bool_)


def sample(logits: NDArray[np.float32], temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """Greedy at temperature 0; otherwise temperature + nucleus sampling. Masked logits are -inf."""
    if temperature <= 0.0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max()
    probs = np.exp(scaled)
    probs /= probs.sum()
    if top_p < 1.0:
        order = np.argsort(-probs)
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
        kept = probs[keep] / probs[keep].sum()
        return int(keep[rng.choice(len(keep), p=kept)])
    return int(rng.choice(len(probs), p=probs))
