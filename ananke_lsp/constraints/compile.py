"""Compile ``PyConstraintIR`` sets to llguidance grammars.

Every constraint is split into parts that llguidance enforces independently: its JSON schema,
its grammar, and the intersection of its regexes (one lexeme, so the regexes are jointly
satisfiable at every step). An engine applies the AND of all parts' token masks."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NoReturn, NotRequired, TypedDict

import llguidance as llg

from ..api_types import PyConstraintIR
from ..errors import ConstraintError, PrefixRejected
from .closed_objects import closed_objects
from .deep_stack import on_deep_stack
from .matcher_memo import MatcherMemo, byte_matcher
from .prefixed import after_prefix
from .regex_size import MAX_INTERSECTION_SIZE, grammar_intersection_size, intersection_size

if TYPE_CHECKING:  # declared in llguidance's stubs only, not exported at run time
    from llguidance._lib import JsonCompileOptions

HASH_VERSION = "ananke-constraints/2"  # 2: objects closed for generation (closed_objects)
# Compact JSON when generating: a small model left free to emit whitespace can pad forever.
ENFORCE_JSON_OPTIONS: JsonCompileOptions = {"whitespace_flexible": False}
_START_RULE = re.compile(r"^\s*[?!]?start\s*:", re.MULTILINE)
_ROOT_RULE = re.compile(r"^\s*[?!]?root\s*:", re.MULTILINE)

PartKind = Literal["json_schema", "grammar", "regex"]
# Deeper schemas fail inside llguidance anyway (from ~130 levels); the compile steps before it
# recurse per level, so the limit is checked first, with a message that says what is wrong.
MAX_SCHEMA_DEPTH = 128
# One constraint's schema + grammar + regexes. Bounds what reaches llguidance, whose compile
# recursion is sized for it (deep_stack.py); the service and project files may lower it.
MAX_CONSTRAINT_BYTES = 256 << 10


@dataclass(frozen=True)
class ConstraintPart:
    constraint: str
    kind: PartKind
    grammar: str  # llguidance grammar enforced token by token
    check_grammar: str  # same language, used to validate text from any engine
    # The part in the plain form other backends take (vLLM, OpenAI-compatible servers):
    # the JSON schema as enforced (closed objects), the Lark text, or the regex patterns (all must match).
    source: str = ""
    patterns: tuple[str, ...] = ()
    # Text the grammar reads before the generated text (PyConstraintIR.prefix): every matcher of
    # the part, enforcing or checking, consumes it first.
    prefix: str = ""


@dataclass
class CompiledConstraints:
    hash: str
    compiled_at: int
    compile_time_ms: float
    names: tuple[str, ...]
    parts: tuple[ConstraintPart, ...]
    _matchers: dict[int, list[llg.LLMatcher]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def schema(self) -> str:
        """The llguidance grammars as one JSON document: every entry must hold."""
        entries = [{"constraint": p.constraint, "kind": p.kind, "grammar": p.grammar} for p in self.parts]
        return json.dumps({"all_of": entries}, sort_keys=True)

    def matchers(self, tokenizer: llg.LLTokenizer) -> tuple[list[llg.LLMatcher], float]:
        """Fresh matchers for ``tokenizer`` and the milliseconds spent building them (0 when reused)."""
        with self._lock:
            protos = self._matchers.get(id(tokenizer))
            built_ms = 0.0
            if protos is None:
                start = time.perf_counter()
                protos = on_deep_stack(lambda: [_matcher(tokenizer, p) for p in self.parts])
                built_ms = (time.perf_counter() - start) * 1000
                self._matchers[id(tokenizer)] = protos
            return [m.deep_copy() for m in protos], built_ms


def _matcher(tokenizer: llg.LLTokenizer, part: ConstraintPart) -> llg.LLMatcher:
    matcher = model_matcher(tokenizer, part.grammar, keep=bool(part.prefix))
    if matcher.is_error():
        raise ConstraintError(part.constraint, part.kind, short_reason(matcher.get_error()))
    return read_prefix(part, matcher, tokenizer) if part.prefix else matcher


def model_matcher(tokenizer: llg.LLTokenizer, grammar: str, *, keep: bool) -> llg.LLMatcher:
    """A fresh matcher of ``grammar`` for ``tokenizer``; with ``keep``, a copy of one kept by
    grammar text: a prefixed part's grammar (of the code before the cursor) recurs every keystroke
    with another prefix. Other grammars' matchers are held by their compiled set, in its cache."""
    if not keep:
        return llg.LLMatcher(tokenizer, grammar, log_level=0)
    memo = _MODEL_MATCHERS.get(tokenizer)
    if memo is None:
        memo = _MODEL_MATCHERS.setdefault(
            tokenizer, MatcherMemo(lambda g: llg.LLMatcher(tokenizer, g, log_level=0), limit=64, max_bytes=64 << 20)
        )
    return memo(grammar).deep_copy()


_MODEL_MATCHERS: dict[llg.LLTokenizer, MatcherMemo] = {}


def read_prefix(part: ConstraintPart, fresh: llg.LLMatcher, tokenizer: llg.LLTokenizer | None) -> llg.LLMatcher:
    """``fresh``, a new matcher of the part's grammar (byte-level when ``tokenizer`` is None),
    after reading its prefix; ``ConstraintError`` when the grammar does not admit the prefix."""
    try:
        return after_prefix(fresh, tokenizer, part.grammar, part.prefix)
    except PrefixRejected as exc:
        reason = f"its grammar does not admit the prefix (the code before the cursor): {exc}"
        raise ConstraintError(part.constraint, part.kind, reason) from None


def short_reason(message: str) -> str:
    """llguidance errors carry a parser dump; keep the human part."""
    return message.split("\n<state>", 1)[0].strip()


def _unicode(constraint: str, kind: str, text: str) -> str:
    """``text``, if it is valid Unicode: llguidance takes UTF-8, which a Python str holding a lone
    surrogate (``"\\ud800"``) cannot become."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        where = f"{text[exc.start]!r} at character {exc.start}"
        raise ConstraintError(constraint, kind, f"not valid Unicode: a lone surrogate {where}") from None
    return text


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is beyond the range of a JSON number")
    return value


def _not_json(text: str) -> NoReturn:  # NaN, Infinity: Python's json reads them, llguidance does not
    raise ValueError(f"{text} is not a JSON value")


def _check_schema_value(constraint: str, schema: object) -> None:
    """Depth and strings of a parsed schema, walked without recursion: the compile steps after
    this one recurse once per level, and llguidance takes only valid Unicode."""
    stack = [(schema, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _unicode(constraint, "json_schema", value)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_SCHEMA_DEPTH:
            reason = f"it nests objects and arrays more than {MAX_SCHEMA_DEPTH} levels deep"
            raise ConstraintError(constraint, "json_schema", reason)
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        else:
            stack.extend((item, depth + 1) for item in value)


def constraint_bytes(constraint: PyConstraintIR) -> int:
    """UTF-8 size of what one constraint hands to llguidance."""
    texts = [constraint.json_schema or "", constraint.grammar or "", *constraint.regex_patterns]
    return sum(len(t.encode(errors="surrogatepass")) for t in texts)


class _Normalized(TypedDict):
    """A constraint as it is hashed and compiled: the schema parsed, regexes sorted, blanks out."""

    name: str
    json_schema: dict[str, object] | bool | None
    grammar: str | None
    regex_patterns: list[str]
    prefix: NotRequired[str]  # absent when empty: the hashes of sets without one stay as they were


def _normalized(constraint: PyConstraintIR) -> _Normalized:
    name = constraint.name
    size = constraint_bytes(constraint)
    if size > MAX_CONSTRAINT_BYTES:
        reason = f"it is {size} bytes; a constraint may hold at most {MAX_CONSTRAINT_BYTES}"
        raise ConstraintError(name, "constraint", reason)
    schema: dict[str, object] | bool | None = None
    if constraint.json_schema is not None:
        text = _unicode(name, "json_schema", constraint.json_schema)
        try:
            schema = json.loads(text, parse_float=_finite, parse_constant=_not_json)
        except ValueError as exc:  # JSONDecodeError, NaN/Infinity, a number out of range
            raise ConstraintError(name, "json_schema", f"not valid JSON: {exc}") from None
        except RecursionError:
            reason = f"it nests objects and arrays more than {MAX_SCHEMA_DEPTH} levels deep"
            raise ConstraintError(name, "json_schema", reason) from None
        if not isinstance(schema, (dict, bool)):
            raise ConstraintError(name, "json_schema", "a JSON schema must be an object or a boolean")
        _check_schema_value(name, schema)
    grammar = _unicode(name, "grammar", constraint.grammar).strip() if constraint.grammar is not None else None
    if grammar == "":
        raise ConstraintError(name, "grammar", "the grammar is empty")
    for pattern in constraint.regex_patterns:
        _unicode(name, "regex", pattern)
    if schema is None and grammar is None and not constraint.regex_patterns:
        raise ConstraintError(name, "constraint", "it sets none of json_schema, grammar, regex_patterns")
    if constraint.prefix and grammar is None:
        raise ConstraintError(name, "constraint", "a prefix is read by a grammar: set grammar too")
    normalized: _Normalized = {
        "name": name,
        "json_schema": schema,
        "grammar": grammar,
        "regex_patterns": sorted(set(constraint.regex_patterns)),
    }
    if constraint.prefix:
        normalized["prefix"] = _unicode(name, "grammar", constraint.prefix)
    return normalized


def constraints_hash(constraints: Sequence[PyConstraintIR]) -> str:
    """Deterministic hash of the normalized set: order, key order and duplicates do not matter."""
    normalized = sorted((_normalized(c) for c in constraints), key=lambda c: json.dumps(c, sort_keys=True))
    payload = json.dumps({"v": HASH_VERSION, "json": ENFORCE_JSON_OPTIONS, "set": normalized}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _lark_with_start(grammar: str) -> str:
    # GBNF-style grammars name their start rule `root`; llguidance wants `start`.
    if not _START_RULE.search(grammar) and _ROOT_RULE.search(grammar):
        return "start: root\n" + grammar
    return grammar


_SOURCE_ECHO = re.compile(r"^\s+\d+ \| ", re.MULTILINE)


def _error(constraint: str, kind: PartKind, message: str) -> ConstraintError:
    reason = short_reason(message)
    if kind == "regex":  # the echoed source is our wrapper grammar, not the user's text
        reason = _SOURCE_ECHO.split(reason, 1)[0].rstrip()
    return ConstraintError(constraint, kind, reason)


class _Checker:
    """Checks each grammar once. Given the model's tokenizer, the check *is* building the
    matcher the engine will use (one parse instead of two); without one, llguidance validates.
    A prefixed grammar is also checked to admit its prefix (the first by a byte-level matcher)."""

    def __init__(self, tokenizer: llg.LLTokenizer | None) -> None:
        self.tokenizer = tokenizer
        self.matchers: list[llg.LLMatcher] = []

    def __call__(self, constraint: str, kind: PartKind, grammar: str, prefix: str = "") -> str:
        part = ConstraintPart(constraint, kind, grammar, grammar, prefix=prefix)
        if self.tokenizer is None:
            is_error, messages = llg.LLMatcher.validate_grammar_with_warnings(grammar)
            if is_error:
                raise _error(constraint, kind, messages[0])
            if prefix:
                read_prefix(part, byte_matcher(grammar), None)
            return grammar
        matcher = model_matcher(self.tokenizer, grammar, keep=bool(prefix))
        if matcher.is_error():
            raise _error(constraint, kind, matcher.get_error())
        self.matchers.append(read_prefix(part, matcher, self.tokenizer) if prefix else matcher)
        return grammar


def regex_intersection_lark(patterns: Sequence[str]) -> str:
    """A Lark grammar whose one lexeme matches exactly the strings every pattern matches."""
    lexeme = " & ".join(f"/{llg.regex_to_lark(p)}/" for p in patterns)
    return f"start: REGEX\nREGEX: {lexeme}\n"


def _build(constraint: str, kind: PartKind, build: Callable[[], str]) -> str:
    """A grammar from one of llguidance's converters, whose refusals are ``ValueError``s."""
    try:
        return build()
    except ValueError as exc:
        raise _error(constraint, kind, str(exc)) from None


@functools.lru_cache(maxsize=64)
def _lark_memo(source: str) -> str:
    return llg.LLMatcher.grammar_from_lark(source)


def prefixed_lark(source: str) -> str:
    """llguidance's form of a prefixed grammar's Lark ``source``, exactly as compiling a constraint
    with it makes it: a caller that checks a prefix first shares the matchers kept for it."""
    return _lark_memo(_lark_with_start(source.strip()))


def _convert(name: str, source: str, *, keep: bool) -> str:
    """llguidance's form of a Lark grammar; kept by text when ``keep`` (a prefixed part's grammar,
    which recurs every keystroke)."""
    convert = _lark_memo if keep else llg.LLMatcher.grammar_from_lark
    return _build(name, "grammar", lambda: convert(source))


def _too_large(what: str, size: int) -> str:
    return (
        f"{what} are too large to hold together: their counted repetitions, written out, multiply to "
        f"{size:,} (at most {MAX_INTERSECTION_SIZE:,}); use smaller counts"
    )


def _parts(c: _Normalized, check: _Checker) -> list[ConstraintPart]:
    name = c["name"]
    parts: list[ConstraintPart] = []
    if c["json_schema"] is not None:
        if c["json_schema"] is False:
            raise ConstraintError(name, "json_schema", "the schema is `false`: no value satisfies it")
        schema = json.dumps(c["json_schema"])
        # llguidance applies options to an object schema only; `true` and `{}` say the same
        closed = json.dumps(closed_objects({} if c["json_schema"] is True else c["json_schema"]))
        enforced = _build(
            name, "json_schema", lambda: llg.LLMatcher.grammar_from_json_schema(closed, overrides=ENFORCE_JSON_OPTIONS)
        )
        enforce = check(name, "json_schema", enforced)
        # the user's schema with free whitespace: valid whenever the enforced form is
        lenient = _build(name, "json_schema", lambda: llg.LLMatcher.grammar_from_json_schema(schema))
        parts.append(ConstraintPart(name, "json_schema", enforce, lenient, source=closed))
    if c["grammar"] is not None:
        source = _lark_with_start(c["grammar"])
        if (size := grammar_intersection_size(source)) > MAX_INTERSECTION_SIZE:
            raise ConstraintError(name, "grammar", _too_large("the operands of an `&` in it", size))
        prefix = c.get("prefix", "")
        lark = check(name, "grammar", _convert(name, source, keep=bool(prefix)), prefix)
        parts.append(ConstraintPart(name, "grammar", lark, lark, source=source, prefix=prefix))
    patterns = c["regex_patterns"]
    if patterns:
        if not all(patterns):
            raise ConstraintError(name, "regex", "empty regex pattern")
        if (size := intersection_size(patterns)) > MAX_INTERSECTION_SIZE:
            raise ConstraintError(name, "regex", _too_large("its regexes", size))
        source = _build(name, "regex", lambda: regex_intersection_lark(patterns))
        try:
            regex = check(name, "regex", _build(name, "regex", lambda: llg.LLMatcher.grammar_from_lark(source)))
        except ConstraintError:
            for pattern in patterns:  # one by one, so the error points at the bad pattern
                one = _build(name, "regex", functools.partial(llg.LLMatcher.grammar_from_regex, pattern))
                _Checker(None)(name, "regex", one)
            raise
        parts.append(ConstraintPart(name, "regex", regex, regex, source=source, patterns=tuple(patterns)))
    return parts


def compile_constraints(
    constraints: Sequence[PyConstraintIR], tokenizer: llg.LLTokenizer | None = None
) -> CompiledConstraints:
    """Compile and validate every constraint; raise ``ConstraintError`` naming the first bad one.
    With the model's ``tokenizer`` the matchers for it are built right away (and reused)."""
    return on_deep_stack(lambda: _compile(constraints, tokenizer))


def _compile(constraints: Sequence[PyConstraintIR], tokenizer: llg.LLTokenizer | None) -> CompiledConstraints:
    start = time.perf_counter()
    names = [c.name for c in constraints]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ConstraintError(duplicate, "constraint", "two constraints share this name; names must be unique")
    normalized = [_normalized(c) for c in constraints]
    check = _Checker(tokenizer)
    parts = tuple(p for c in normalized for p in _parts(c, check))
    compiled = CompiledConstraints(
        hash=constraints_hash(constraints),
        compiled_at=int(time.time()),
        compile_time_ms=(time.perf_counter() - start) * 1000,
        names=tuple(names),
        parts=parts,
    )
    if tokenizer is not None:
        compiled._matchers[id(tokenizer)] = check.matchers
    return compiled
