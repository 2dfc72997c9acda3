"""Token healing: the end of what the user typed, handed back to the model to spell.

A prompt that stops where the cursor is stops mid-word as often as not (``ret``, or the lone run
of spaces an editor's auto-indent leaves), at a token boundary the model never saw there in
training: in its own tokenization ``return`` is one token, and four spaces before a word are three
plus one that starts the word. Prompted with ``ret``, a model tends to start a new word. So the
prompt's last typed tokens are taken off, and the model's first tokens must spell their text
again: all of it and maybe more (``return`` for ``ret``), or the part of it the model's own
tokenizer would make a token were a word to follow (three of four spaces: the fourth starts the
word). Any part was allowed at first; the model then spent its first token on the three spaces
that start a shallower line's indentation, and went on at the wrong depth. The caller gets only
what follows the healed text; constraints see only that, too."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Final

import numpy as np
from numpy.typing import NDArray

from .sampling import sample

# Tokens of typed text taken off a prompt's end. Two recovered more than one on HumanEval lines
# typed half-way (bench/RESULTS.md, "Token healing and where the middle opens").
HEALED_TOKENS = 2
# Spellings refused by the constraints (their text past the healed part) before the healed text is
# spelled as the prompt had it, which the constraints never refuse: a bound on a step's checks.
MAX_REFUSALS = 64
# What is assumed to follow the healed text when asking the tokenizer where its first token ends.
_A_WORD: Final = b"a"


class Spellings:
    """A vocabulary's tokens by their bytes, for the tokens that can spell a given text's start."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.pieces = list(pieces)  # by token id; b"" for tokens that are not text (the end, markers)
        self._sorted = sorted((piece, token) for token, piece in enumerate(self.pieces) if piece)
        self._keys = [piece for piece, _ in self._sorted]
        self._exact = {piece: token for piece, token in reversed(self._sorted)}

    def starting_with(self, text: bytes) -> list[int]:
        """The tokens whose bytes start with ``text``: in byte order, a run from ``text``'s place."""
        tokens, i = [], bisect.bisect_left(self._keys, text)
        while i < len(self._keys) and self._keys[i].startswith(text):
            tokens.append(self._sorted[i][1])
            i += 1
        return tokens

    def exact(self, text: bytes) -> int | None:
        return self._exact.get(text)


class Healing:
    """The healed text still to spell, and the choice of each token that spells it."""

    def __init__(self, spellings: Spellings, tokenize: Callable[[bytes], list[int]], text: bytes) -> None:
        self._spellings = spellings
        self._tokenize = tokenize
        self.rest = text

    def next_token(
        self,
        logits: NDArray[np.float32],
        temperature: float,
        top_p: float,
        rng: np.random.Generator,
        accepts: Callable[[bytes], bool],
    ) -> tuple[int, bytes]:
        """A token that spells on from ``rest``, sampled from ``logits`` among those spellings;
        returns it and its bytes past the healed text (b"" while that is not yet spelled), which
        ``accepts`` (the constraints) allowed."""
        rest = self.rest
        candidates = np.array(self._candidates(rest), dtype=np.intp)
        masked = np.full_like(logits, -np.inf)
        masked[candidates] = logits[candidates]
        for _ in range(min(MAX_REFUSALS, len(candidates))):
            token = sample(masked, temperature, top_p, rng)
            piece = self._spellings.pieces[token]
            past = piece[len(rest) :] if piece.startswith(rest) else b""
            if not past or accepts(past):
                self.rest = rest[len(piece) :] if not past else b""
                return token, past
            masked[token] = -np.inf
        return self._as_typed(rest), b""

    def _candidates(self, rest: bytes) -> list[int]:
        """The tokens that start with ``rest``, and the token the tokenizer makes of its start
        when a word follows it, if that is a proper part of it."""
        tokens = self._spellings.starting_with(rest)
        first = self._tokenize(rest + _A_WORD)[:1]
        if first and rest.startswith(part := self._spellings.pieces[first[0]]) and len(part) < len(rest):
            tokens.append(first[0])
        return tokens

    def _as_typed(self, rest: bytes) -> int:
        """The longest token that is a start of ``rest``: what the constraints cannot refuse, the
        text being the user's own (one byte at a time at worst, every byte being a token)."""
        for end in range(len(rest), 0, -1):
            token = self._spellings.exact(rest[:end])
            if token is not None:
                self.rest = rest[end:]
                return token
        raise ValueError(f"no token spells {rest[:1]!r}")  # a byte-level vocabulary has every byte
