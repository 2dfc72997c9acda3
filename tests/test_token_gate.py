"""The sample-first token gate on the real SmolLM2 vocabulary and real llguidance matchers: the
model's choice is kept when the constraints allow it, masked otherwise, and temperature sampling
still draws from exactly the masked distribution."""

from __future__ import annotations

import numpy as np
import pytest

from ananke_lsp.api_types import PyConstraintIR
from ananke_lsp.constraints import compile_constraints
from ananke_lsp.context.python_syntax import python_syntax
from ananke_lsp.engines.base import EngineRequest
from ananke_lsp.engines.embedded import EmbeddedEngine, LoadedModel, load_model
from ananke_lsp.engines.sampling import TokenGate


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return load_model()


def _token(model: LoadedModel, text: str) -> int:
    [token] = model.plain_tokens(text.encode())
    return token


def _gate(model: LoadedModel, *patterns: str) -> TokenGate:
    constraints = [PyConstraintIR(name=f"r{i}", regex_patterns=[p]) for i, p in enumerate(patterns)]
    matchers, _ = compile_constraints(constraints, model.tokenizer).matchers(model.tokenizer)
    return TokenGate(matchers, model.n_vocab, model.stop_ids)


def _logits(model: LoadedModel, scores: dict[int, float]) -> np.ndarray:
    logits = np.full(model.n_vocab, -50.0, dtype=np.float32)
    for token, score in scores.items():
        logits[token] = score
    return logits


def test_an_allowed_choice_is_kept_without_a_mask(model: LoadedModel):
    # Where the text is forced, llguidance's mask offers only its canonical tokens (here the one
    # token "abc"); the model's own "a" satisfies the constraint just as well and is kept.
    gate = _gate(model, "abc")
    a = _token(model, "a")
    logits = _logits(model, {a: 5.0, _token(model, "x"): 1.0})
    assert gate.next_token(logits, 0.0, 1.0, np.random.default_rng(0)) == a
    assert gate.masks == 0


def test_a_refused_choice_is_masked_and_the_best_allowed_token_taken(model: LoadedModel):
    gate = _gate(model, "[a-z]+")
    a, x = _token(model, "a"), _token(model, "X")
    logits = _logits(model, {x: 9.0, a: 2.0})
    assert gate.next_token(logits, 0.0, 1.0, np.random.default_rng(0)) == a
    assert gate.masks == 1
    assert logits[x] == -np.inf  # masked in place


def test_the_end_is_refused_until_every_matcher_accepts(model: LoadedModel):
    gate = _gate(model, "[a-z]+")
    stop = min(model.stop_ids)
    a = _token(model, "a")
    assert gate.next_token(_logits(model, {stop: 9.0, a: 1.0}), 0.0, 1.0, np.random.default_rng(0)) == a


def test_constraints_that_leave_no_token_say_so(model: LoadedModel):
    gate = _gate(model, "a", "b")
    assert gate.next_token(_logits(model, {_token(model, "a"): 3.0}), 0.0, 1.0, np.random.default_rng(0)) is None


def _one_constraint(model: LoadedModel, *patterns: str) -> TokenGate:
    # The regexes of one constraint are intersected into one lexeme: one matcher, whose mask for a
    # contradiction offers only the end of text although the matcher does not accept.
    compiled = compile_constraints([PyConstraintIR(name="r", regex_patterns=list(patterns))], model.tokenizer)
    matchers, _ = compiled.matchers(model.tokenizer)  # type: ignore[arg-type]
    return TokenGate(matchers, model.n_vocab, model.stop_ids)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_contradicting_regexes_in_one_matcher_are_a_conflict_not_an_end(model: LoadedModel, temperature: float):
    gate = _one_constraint(model, "a+", "b+")
    logits = _logits(model, {min(model.stop_ids): 9.0, _token(model, "a"): 3.0})
    assert gate.next_token(logits, temperature, 1.0, np.random.default_rng(0)) is None


def test_the_end_stays_allowed_where_the_constraint_is_met(model: LoadedModel):
    gate = _one_constraint(model, "(ab)?", "a?b?")  # satisfiable: empty or "ab"
    stop = min(model.stop_ids)
    assert gate.next_token(_logits(model, {stop: 9.0}), 0.0, 1.0, np.random.default_rng(0)) == stop


async def test_the_engine_finishes_contradicting_regexes_with_constraint_conflict(engine: EmbeddedEngine):
    constraints = [PyConstraintIR(name="r", regex_patterns=["a+", "b+"])]
    request = EngineRequest(prompt="Say hi", constraints=constraints, max_tokens=8, temperature=0.0)
    result = await engine.generate(request, compile_constraints(constraints))
    assert result.finish_reason == "constraint_conflict" and result.text == ""


@pytest.mark.parametrize("top_p", [1.0, 0.9])
def test_temperature_sampling_draws_from_the_masked_distribution(model: LoadedModel, top_p: float):
    # Two allowed tokens and two refused ones that hold most of the mass: the draws must follow
    # softmax over the allowed ones only, whichever path (sample first, or mask first) is taken.
    # (Every other allowed token has a logit of -50: no mass to speak of.)
    a, ab, x, y = (_token(model, t) for t in ("a", "ab", "X", "Y"))
    scores = {a: 1.0, ab: 2.0, x: 3.0, y: 3.0}
    expected = {a: np.exp(1.0) / (np.exp(1.0) + np.exp(2.0)), ab: np.exp(2.0) / (np.exp(1.0) + np.exp(2.0))}
    rng = np.random.default_rng(7)
    draws = 3000
    counts: dict[int, int] = {}
    gate = _gate(model, "[a-z]+")  # it only reads its matchers: the decode loop advances them
    for _ in range(draws):
        token = gate.next_token(_logits(model, scores), 1.0, top_p, rng)
        assert token is not None
        counts[token] = counts.get(token, 0) + 1
    assert set(counts) == {a, ab}
    for token, p in expected.items():
        assert abs(counts[token] / draws - p) < 0.04, (counts, expected)


def test_mid_document_a_grammar_may_end_where_a_line_may_end(model: LoadedModel):
    # After a block header the Python grammar is not complete (the body is missing), but the body
    # is the code after the cursor: a prefixed part lets the output end where a line break may come.
    syntax = python_syntax("def f(xs):\n    for x in xs:")
    assert syntax.constraint is not None
    matchers, _ = compile_constraints([syntax.constraint], model.tokenizer).matchers(model.tokenizer)  # type: ignore[arg-type]
    line_end = model.tokenizer.tokenize_str("\n")  # type: ignore[attr-defined]
    stop, plus = min(model.stop_ids), _token(model, "+")
    rng = np.random.default_rng(0)
    mid = TokenGate([m.deep_copy() for m in matchers], model.n_vocab, model.stop_ids, line_end, frozenset({0}))
    assert mid.next_token(_logits(model, {stop: 9.0, plus: 1.0}), 0.0, 1.0, rng) == stop
    whole = TokenGate([m.deep_copy() for m in matchers], model.n_vocab, model.stop_ids)
    assert whole.next_token(_logits(model, {stop: 9.0, plus: 1.0}), 0.0, 1.0, rng) != stop
    # mid-expression no line break may come: the end is refused there too
    syntax = python_syntax("def f(xs):\n    return xs +")
    matchers, _ = compile_constraints([syntax.constraint], model.tokenizer).matchers(model.tokenizer)  # type: ignore[arg-type, list-item]
    mid = TokenGate(matchers, model.n_vocab, model.stop_ids, line_end, frozenset({0}))
    assert mid.next_token(_logits(model, {stop: 9.0, _token(model, "1"): 1.0}), 0.0, 1.0, rng) != stop
