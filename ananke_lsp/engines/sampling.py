"""Token masks and sampling on numpy logits."""

from __future__ import annotations

import time

import llguidance as llg
import numpy as np
from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask
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


# Masking as an addition: `logits += penalty` is one pass over the vocabulary, where
# `logits[~allowed] = -inf` is a boolean scatter, many times slower.
_PENALTY = np.array([-np.inf, 0.0], dtype=np.float32)


class TokenGate:
    """Which token may come next under every matcher, asked the cheap way first: the model's own
    choice is checked (one token per matcher), and the full vocabulary mask (every token, a
    noticeable part of a token's time on a CPU) is computed only when that choice is refused.
    Greedy decoding gets the best token the constraints allow; temperature sampling keeps the
    model's draw when it is allowed and otherwise draws from the masked distribution (rejection
    sampling: where the mask offers every allowed token, exactly the masked distribution; where
    the text is forced, llguidance's mask offers only its canonical tokens, and a model's other
    spelling of the same text is kept). With top-p < 1 the nucleus must be cut from the masked
    distribution: every token is masked."""

    def __init__(
        self,
        matchers: list[llg.LLMatcher],
        n_vocab: int,
        stop_ids: frozenset[int],
        line_end: list[int] | None = None,
        mid_document: frozenset[int] = frozenset(),
    ) -> None:
        """``mid_document``: the rows of matchers whose text goes on after the output (a prefixed
        part: the code after the cursor follows it); the output may end there wherever their
        grammar accepts ``line_end`` (the tokens of a line break) next, not only where it is
        complete: a block header above its body, say, whose body is the code below."""
        self._matchers = matchers
        self._line_end = line_end or []
        self._mid_document = mid_document
        self._n_vocab = n_vocab
        self._stop_ids = stop_ids
        self._stops = np.array(sorted(t for t in stop_ids if t < n_vocab), dtype=np.intp)
        self._bitmask = allocate_token_bitmask(len(matchers), n_vocab)
        self.enforce_us = 0.0  # time spent checking and masking, over the whole generation
        self.masks = 0  # full masks computed

    def next_token(
        self, logits: NDArray[np.float32], temperature: float, top_p: float, rng: np.random.Generator
    ) -> int | None:
        """A token every matcher allows, sampled from ``logits`` (masked in place when needed);
        None when the matchers leave no way on: the constraints contradict each other."""
        start = time.perf_counter()
        try:
            if temperature <= 0.0 or top_p >= 1.0:
                token = sample(logits, temperature, top_p, rng)
                if self._allows(token):
                    return token
            penalty = self._penalty()
            if penalty is None:
                return None
            logits += penalty
            return sample(logits, temperature, top_p, rng)
        finally:
            self.enforce_us += (time.perf_counter() - start) * 1e6

    def _allows(self, token: int) -> bool:
        if token in self._stop_ids:  # the end is allowed where the mask would allow it
            return self._may_end()
        return all(m.validate_tokens([token]) == 1 for m in self._matchers)

    def _may_end(self) -> bool:
        """Every matcher accepts, or, mid-document, could take a line break next."""
        return all(
            m.is_accepting() or (row in self._mid_document and m.validate_tokens(self._line_end) == len(self._line_end))
            for row, m in enumerate(self._matchers)
        )

    def _penalty(self) -> NDArray[np.float32] | None:
        self.masks += 1
        if any(m.is_error() for m in self._matchers):
            return None
        for row, matcher in enumerate(self._matchers):
            fill_next_token_bitmask(matcher, self._bitmask, row)
        allowed = allowed_tokens(self._bitmask, self._n_vocab)
        # The end of text counts only where `_allows` lets it. A matcher with nowhere to go (regexes
        # of one constraint contradicting inside their one lexeme) offers the end without
        # accepting: taking it would end with "stop" and unmet constraints.
        if not self._may_end():
            allowed[self._stops] = False
        return _PENALTY[allowed.view(np.uint8)] if allowed.any() else None
