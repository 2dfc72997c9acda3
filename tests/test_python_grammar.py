"""The indentation-aware Python grammar, judged by llguidance itself byte by byte (as a model's
output would be): real code of the standard library is accepted, invalid code is rejected at the
first byte no valid program could continue from, and the text may end exactly where a statement
is complete."""

from __future__ import annotations

import ast

import llguidance as llg
import pytest

from ananke_lsp.constraints.matcher_memo import byte_matcher
from ananke_lsp.context.python_grammar import grammar_stats, python_grammar
from bench.python_grammar_stdlib import (
    StdlibSnippet,
    build_ms,
    module_functions,
    module_statements,
    rejection,
    stdlib_functions,
)

# Functions of the standard library the default grammar (depth=8) rejects: why, and the depth that
# accepts them.
KNOWN_GAPS = {
    ("datetime.py", "_wrap_strftime"): ("a block 9 levels below the def", 9),
    ("re/_compiler.py", "_optimize_charset"): ("a block 10 levels below the def", 10),
    ("lib2to3/refactor.py", "RefactoringTool.refactor_tree"): ("a block 9 levels below the def", 9),
}
SAMPLE_EVERY = 25
MODULES = ("json/decoder.py", "dataclasses.py", "contextlib.py", "functools.py", "enum.py")


def consume(text: str, base: int = 0, **kwargs: int) -> tuple[int, bool]:
    """(bytes consumed, accepting there) for ``text`` under the grammar of ``base``."""
    matcher = byte_matcher(llg.LLMatcher.grammar_from_lark(python_grammar(base, **kwargs)))
    consumed = matcher.try_consume_tokens(list(text.encode()))
    return consumed, matcher.is_accepting()


def accepts(text: str, base: int = 0, **kwargs: int) -> bool:
    consumed, accepting = consume(text, base, **kwargs)
    return consumed == len(text.encode()) and accepting


@pytest.mark.parametrize(("base", "unit", "depth"), [(0, 4, 8), (4, 4, 8), (8, 2, 3), (12, 4, 0), (3, 3, 12)])
def test_grammar_compiles_without_warnings(base: int, unit: int, depth: int) -> None:
    grammar = llg.LLMatcher.grammar_from_lark(python_grammar(base, unit, depth))
    assert llg.LLMatcher.validate_grammar_with_warnings(grammar) == (False, [])
    assert python_grammar(base, unit, depth) is python_grammar(base, unit, depth)  # cached


def test_build_time_and_size() -> None:
    size, rules = grammar_stats(python_grammar(4))
    print(f"\npython_grammar(4): {size} bytes, {rules} rules, byte matcher built in {build_ms(repeat=3):.1f} ms")
    assert rules > 100


def test_stdlib_function_sample() -> None:
    sample = list(stdlib_functions(SAMPLE_EVERY))
    assert len(sample) > 300
    rejected = {(s.module, s.name): rejection(s) for s in sample}
    rejected = {key: reason for key, reason in rejected.items() if reason is not None}
    unexpected = {key: reason for key, reason in rejected.items() if key not in KNOWN_GAPS}
    assert not unexpected
    accepted = len(sample) - len(rejected)
    assert accepted == len(sample) - sum(key in KNOWN_GAPS for key in ((s.module, s.name) for s in sample))
    print(f"\n{accepted}/{len(sample)} stdlib functions (every {SAMPLE_EVERY}th) accepted")


@pytest.mark.parametrize(("module", "name"), sorted(KNOWN_GAPS))
def test_known_gaps_are_what_they_say(module: str, name: str) -> None:
    (snippet,) = [s for s in module_functions(module) if s.name == name]
    _, depth = KNOWN_GAPS[module, name]
    assert rejection(snippet, depth=depth - 1) is not None
    assert rejection(snippet, depth=depth) is None


@pytest.mark.parametrize("module", MODULES)
def test_module_level_statements(module: str) -> None:
    statements = module_statements(module)
    assert statements
    assert {s.name: rejection(s) for s in statements if rejection(s) is not None} == {}


# A text Python rejects, and the offset of the first byte no valid program continues from (the
# lexer may read a keyword as the start of a longer name: `return returns` is valid).
INVALID = [
    ("x notin y", 5),  # `not` after an expression needs a blank: not `not in`
    ("x isnot y", 4),
    ("a andb", 5),
    ("x = [i fori in y]", 10),
    ("x = a if b elsec", 15),
    ("from x importy", 13),
    ("if x\n    y", 4),  # a header without its colon
    ("def f(a, b)\n    pass", 11),
    ("class A(B)\n    pass", 10),
    ("if x:\n    a\n  b", 14),  # a dedent to no enclosing column
    ("if x:\n    pass\n  else:\n    pass", 17),
    ("x = 1\n    y = 2", 10),  # unexpected indent
    ("def f():\n    return\n        x", 28),
    ("while x:\npass", 9),  # a body not indented
    ("def f(:\n    pass", 6),
    ("class A(:\n    pass", 8),
    ("return return x", 13),
    ("x = = 1", 4),
    ("x += = 1", 5),
    ("x = 1 2", 6),
    ("print 'hello'", 6),
    ("x = (1,\ny = 2", 11),  # an unclosed bracket, then statements
    ("foo(a,\nif x:\n    pass", 9),
    ("x = [1, 2\ny = 3", 10),
    ("else:\n    pass", 4),  # `else` with no `if`
    ("try:\n    pass\nx = 1", 14),  # `try` with no handler
    ("for x in :\n    pass", 9),
    ("f = lambda: yield x", 17),
    ("x = yield = 1", 10),
    ("x = {1: 2, 3}", 12),
    ("f(**)", 4),
    ("f(x for x in y, z)", 14),
    ("with a as:\n    pass", 9),
    ("async x = 1", 6),
    ("@dec\nx = 1", 5),
    ("match x:\n    case 1:\n    pass", 25),
    ("if x: if y: z", 8),  # a compound statement as an inline body
    ("global x.y", 8),
    ("try:\n    pass\nexcept E as e.f:\n    pass", 27),
    ("x = a.1", 6),
    ("x = 0777\n", 8),
    ("x = 'abc\n", 8),
    ("del\n", 3),
    ("x = 1 if y\n", 10),
    ("1 = x", 3),  # assignment targets are names, attributes, subscripts and lists of those
    ("f() = 1", 5),
    ("f() += 1", 5),
    ("for f() in x:\n    pass", 8),
    ("f(a=1, b)", 8),  # argument order
    ("f(**a, *b)", 8),
    ("(*a)", 3),
    ("{**a for a in b}", 5),
]


@pytest.mark.parametrize(("text", "offset"), INVALID)
def test_rejects_invalid_code_at_the_right_byte(text: str, offset: int) -> None:
    with pytest.raises(SyntaxError):
        ast.parse(text)
    assert consume(text)[0] == offset


@pytest.mark.parametrize(("text", "offset"), [("x = *a\n", 6), ("def f():\n    return *a\n", 22)])
def test_rejects_what_only_the_compiler_rejects(text: str, offset: int) -> None:
    ast.parse(text)
    with pytest.raises(SyntaxError):
        compile(text, "<test>", "exec")
    assert consume(text)[0] == offset


INCOMPLETE = [
    "if x:",
    "if x:\n",
    "if x:\n    ",
    "def f(a,",
    "x = (1",
    "x = 1 +",
    "x = 'abc",
    "x = '''abc\n",
    "x = 1 \\",
    "raise X from",
    "import a.b as",
    "x = not",
    "assert",
    "try:\n    pass",
    "@dec",
    "@dec\n",
    "class A:\n",
    "match x:\n    case 1:",
    "if x:\n    pass\nelse:",
    "del f()",
]


@pytest.mark.parametrize("text", INCOMPLETE)
def test_not_accepting_mid_statement(text: str) -> None:
    assert consume(text) == (len(text.encode()), False)


ACCEPTING = [
    "x = 1",
    "x = 1\n",
    "x = 1\n\n\n",
    "x = 1\n  \n",
    "x = 1  # done",
    "x = 1\n# done\n",
    "x = 1;",
    "if x:\n    y",
    "if x:\n    y\n",
    "if x: y",
    "if x:\n    if y:\n        z\n",
    "# a comment first\nx = 1",
]


@pytest.mark.parametrize("text", ACCEPTING)
def test_accepting_after_a_complete_statement(text: str) -> None:
    assert consume(text) == (len(text.encode()), True)


def test_tail_after_a_dedent_below_base() -> None:
    assert accepts("    x = 1\ny = 2", base=4)
    assert accepts("    x = 1\n  y", base=4)
    assert accepts("    if x:\n        y\n\n  # c\nanything ( goes", base=4)
    assert accepts("    x = 1\n# a comment at column 0 stays in the block\n    y = 2", base=4)
    assert consume("    x = 1\n        y", base=4) == (18, True)  # unexpected indent
    assert consume("    x = 1\ny = 2", base=0) == (0, False)  # the text starts at the base column
    assert consume("x = 1\n    y", base=0)[0] == 10  # no tail at base 0


def test_units_and_depths() -> None:
    assert accepts("if x:\n  if y:\n    z", unit=2)
    assert consume("if x:\n    y", unit=2)[0] == 10
    assert accepts("  if x:\n      y", base=2, depth=1)
    assert consume("  if x:\n    if y:\n      z", base=2, unit=2, depth=1)[0] == 17  # depth 2 is too deep
    assert accepts("  if x:\n    if y: z", base=2, unit=2, depth=1)
    assert accepts("if x: y", depth=0)
    assert consume("if x:\n    y", depth=0)[0] == 5


@pytest.mark.parametrize(
    "text",
    [
        "match = 1",
        "case(x)",
        "type = 3",
        "print(match)",
        "match.group(1)",
        "case = match[0]",
        "_ = type(x)",
        "match x:\n    case _:\n        pass",
        "match command.split():\n"
        "    case [action]:\n"
        "        pass\n"
        "    case [action, obj] | (action, obj, _):\n"
        "        pass\n"
        "    case Point(x=0, y=0) | Point(1, y=2):\n"
        "        pass\n"
        "    case {'x': x, 'y': y, **rest}:\n"
        "        pass\n"
        "    case [1, 2, *others] as whole if whole:\n"
        "        pass\n"
        "    case Color.RED | -1 | 1 + 2j | 'a' 'b' | None | True:\n"
        "        pass\n"
        "    case str() | bytes():\n"
        "        match = case = 1",
        "match *a, b:\n    case (x, *_), y: pass",
    ],
)
def test_soft_keywords(text: str) -> None:
    ast.parse(text)
    assert accepts(text)


VALID = [
    "x: list[int] = []\ny: int\nself.z: str = 'a'\na, *b = c = d, e = f()",
    "x += 1\nx -= 1\nx *= 1\nx /= 1\nx //= 1\nx %= 1\nx @= 1\nx &= 1\nx |= 1\nx ^= 1\nx >>= 1\nx <<= 1\nx **= 1",
    "return\nreturn x\nreturn *a, b\nyield\nyield x, y\nyield from g()\nx = yield\nawait f()",
    "pass; break; continue\nraise\nraise E\nraise E('m') from e\nglobal a, b\nnonlocal c\ndel a, b[0], c.d",
    "assert x\nassert x, 'message'\nimport a\nimport a.b as c, d\nfrom . import x\nfrom .. a import b as c",
    "from ...a.b import (\n    c as d,  # comment\n    e,\n)\nfrom x import *\nfrom __future__ import annotations",
    "if a:\n    pass\nelif b:\n    pass\nelif c: pass\nelse:\n    pass",
    "while (n := f()) > 0:\n    n -= 1\nelse:\n    pass\nfor i, (a, b) in enumerate(x):\n    continue\nelse: pass",
    "try:\n    pass\nexcept (A, B) as e:\n    pass\nexcept C:\n    pass\nexcept:\n    pass\nelse:\n    pass\n"
    "finally:\n    pass",
    "try:\n    pass\nexcept* ValueError as eg:\n    pass\ntry:\n    pass\nfinally:\n    pass",
    "with a as b, c:\n    pass\nwith (a as b,\n      c as d,):\n    pass\nwith (yield):\n    pass",
    "@decorator\n@decorator.attr(1, k=2)\n@(lambda f: f)\n"
    "async def f(a, b: int = 1, /, c=2, *args: int, d, e=3, **kw) -> None:\n"
    "    async with a as b:\n        pass\n    async for x in y:\n        pass\n"
    "    return [i async for i in aiter() if await i]",
    "def f(*, a): pass\ndef g(a, /): pass\ndef h(*args: *Ts): pass\nclass A: pass\nclass B(A, metaclass=M, **kw):\n"
    "    '''Doc.'''\n\n    x = 1\n\n    def m(self):\n        return self.x",
    "f = lambda: 0\ng = lambda x, y=1, *a, k, **kw: x if y else (k or kw)\nh = lambda *, a: a\nl = lambda x, /: x",
    "x = a if b else c if d else e\ny = not a and b or not c\nz = a < b <= c != d == e > f >= g\n"
    "w = a in b and a not in c and a is b and a is not c and a is notable",
    "x = a | b ^ c & d << e >> f + g - h * i / j // k % l @ m ** -n ** ~o",
    "x = [i for i in range(10) if i % 2 if i for j in k]\ny = {k: v for k, v in d.items()}\nz = {a for a in b}\n"
    "w = (x for x in y)\nv = sum(x for x in y)\nu = [*a, *b]\nt = {**a, 'b': 1}\ns = {*a, b}",
    "x = a[1]\nx = a[1:2]\nx = a[::2]\nx = a[1:2, ::3, ...]\nx = a[:, None]\nx = a[*b]\nx = a[b:=1]\nx = a[lambda: 1]",
    "f(a, *b, c=1, **d)\nf(a)(b)[c].d\nf(\n    a,  # comment\n\n    b,\n)\nf(x for x in y)\nprint(*args, sep='')",
    "x = 1_000 + 0x_FF + 0o17 + 0b1010 + 1.5 + .5 + 5. + 1e10 + 1.5E-3 + 3j + 1.5j + 1_0.0_1e1_0 + 0 + 00",
    "x = 'a' \"b\" r'\\d' f'{x!r:>{w}}' Rf\"{y}\" u'u' F'''\n{x}\n'''\ny = b'x' rb'y' BR'z' b'\\''",
    "s = \"\"\"a\n  b\n\n\"c\" ''d\\\\\"\"\"\nt = '''x\n''' 'y'\nu = 'a\\\nb'",
    "x = 1 + \\\n    2\nif a and \\\n        b:\n    pass",
    "x = ...\ny = ()\nz = (1,)\nw = (yield)\nv = [\n]\nu = {\n}\nt = (x := 1)\ns = not x\nr = -x\nq = +x\np = ~x",
    "if x:\n    # comment\n\n        # deeper comment\n    pass\n# dedented comment\n    # comment\nelse:\n    pass",
    "class A:\n    def f(self):\n        for x in y:\n            while z:\n                with w:\n"
    "                    try:\n                        if v:\n                            pass\n"
    "                    except E:\n                        pass",
    "x = 1  # trailing comment\nif x:  # header comment\n    pass\n",
    "é = ünicode_name\nnames = [ñ for ñ in 'año']",
]


@pytest.mark.parametrize("text", VALID)
def test_accepts_valid_code(text: str) -> None:
    ast.parse(text)
    assert accepts(text)


def test_type_alias_statement() -> None:
    """Python 3.12's `type` statement (parsed as a soft keyword; ast.parse of 3.11 refuses it)."""
    assert accepts("type X = int")
    assert accepts("type Point[T: float, *Ts, **P] = tuple[T, T]")
    assert accepts("def f[T](x: T) -> T:\n    return x\nclass C[T]: pass")
    assert consume("type X int")[0] == 7


def test_def_at_its_column() -> None:
    text = "    @property\n    def name(self) -> str:\n        return self._name\n"
    assert accepts(text, base=4)
    assert accepts(text.rstrip("\n") + "\n\n    def other(self):\n        pass\nclass B: pass", base=4)
    snippet = StdlibSnippet("x.py", "name", 4, text)
    assert rejection(snippet) is None
