"""Token healing on a small vocabulary whose logits the test sets: which tokens may spell the
typed text again, what the caller gets of them, and what the constraints are asked."""

from __future__ import annotations

import numpy as np
import pytest

from ananke_lsp.engines.healing import Healing, Spellings

PIECES = [b"", b"r", b"re", b"ret", b"return", b"retry", b" ", b"  ", b"   ", b"    ", b" a", b"a", b"urn", b"t"]
ID = {piece: token for token, piece in enumerate(PIECES) if piece}
VOCAB = Spellings(PIECES)


def word_tokenizer(text: bytes) -> list[int]:
    """Longest match, except that a run of spaces leaves its last one to the word after it (as
    Qwen's and GPT-2's pre-tokenizers do)."""
    out, i = [], 0
    while i < len(text):
        spaces = len(text[i:]) - len(text[i:].lstrip(b" "))
        if spaces > 1 and i + spaces < len(text):
            out.append(ID[text[i : i + spaces - 1]])
            i += spaces - 1
            continue
        piece = max((p for p in ID if text.startswith(p, i)), key=len)
        out.append(ID[piece])
        i += len(piece)
    return out


def logits(**preferred: float) -> np.ndarray:
    """Logits where the named pieces (``return=3.0``; ``sp3`` is three spaces) score as given and
    every other token -10."""
    out = np.full(len(PIECES), -10.0, dtype=np.float32)
    for name, score in preferred.items():
        piece = b" " * int(name[2:]) if name.startswith("sp") else name.encode()
        out[ID[piece]] = score
    return out


def heal(text: bytes) -> Healing:
    return Healing(VOCAB, word_tokenizer, text)


def pick(healing: Healing, scores: np.ndarray, accepts=lambda past: True) -> tuple[bytes, bytes]:
    token, past = healing.next_token(scores, 0.0, 1.0, np.random.default_rng(0), accepts)
    return PIECES[token], past


def test_a_token_that_spells_the_typed_text_and_more_gives_the_caller_only_the_more():
    healing = heal(b"ret")
    assert pick(healing, logits(a=9.0, ret=1.0, **{"return": 5.0})) == (b"return", b"urn")
    assert healing.rest == b""


def test_a_spelling_the_constraints_refuse_is_passed_over():
    healing = heal(b"ret")
    asked: list[bytes] = []

    def accepts(past: bytes) -> bool:
        asked.append(past)
        return past != b"urn"

    assert pick(healing, logits(retry=4.0, **{"return": 5.0}), accepts) == (b"retry", b"ry")
    assert asked == [b"urn", b"ry"]  # the constraints see what follows the typed text, never the text


def test_a_part_of_the_typed_text_is_a_token_only_where_a_word_would_start_after_it():
    healing = heal(b"    ")  # an auto-indent: the tokenizer makes it three spaces, then " a"
    assert pick(healing, logits(sp2=6.0, sp3=5.0, sp1=4.0)) == (b"   ", b"")
    assert healing.rest == b" "
    assert pick(healing, logits(a=9.0, **{" a": 2.0})) == (b" a", b"a")


def test_when_the_constraints_refuse_every_spelling_the_text_is_spelled_as_typed():
    healing = heal(b"ret")
    assert pick(healing, logits(retry=4.0, **{"return": 5.0}), lambda past: False) == (b"ret", b"")
    assert healing.rest == b""


@pytest.mark.parametrize("seed", range(20))
def test_sampling_draws_only_spellings_of_the_typed_text(seed: int):
    healing = heal(b"re")
    scores = logits(a=9.0, t=8.0, r=7.0, ret=1.0, retry=1.0, **{"return": 1.0})
    token, past = healing.next_token(scores, 1.0, 1.0, np.random.default_rng(seed), lambda past: True)
    assert PIECES[token] in (b"re", b"ret", b"return", b"retry") and PIECES[token] == b"re" + past
