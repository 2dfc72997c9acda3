"""An llguidance Lark grammar for Python statements written at a known column.

llguidance has no INDENT/DEDENT tokens and no Lark post-lexer, and it ships no Python grammar, so
indentation is written into the grammar itself. The caller knows the column the text starts at
(``base``), so a block at depth k is a rule whose statements are separated by the newline lexeme of
that depth: a newline, any blank or comment-only lines, then exactly ``base + k * unit`` spaces (the
next byte must be code: the lexer is greedy, no statement starts with a blank, and a deeper newline
lexeme is only allowed where a block opens). A shallower newline lexeme ends the inner blocks; the
depth is bounded, so the grammar is finite.

``%ignore`` cannot carry the blanks: after a depth-k newline it would let any number of spaces
through. Every terminal carries its own trailing blanks instead, in two copies: one for a logical
line (spaces, tabs, backslash continuations) and one inside brackets (newlines and comments too).
An opening bracket always takes the bracket blanks and switches to the bracket copy of the
expression rules; its closer takes the blanks of the enclosing mode. The expression rules are thus
written once, as a template, and instantiated for both modes.

The lexer never backtracks, so identifiers exclude the hard keywords, and a keyword that may follow
an expression (``in``, ``is``, ``not in``, ``and``, ``if``/``else``, ``for``, ``as``, ...) must be
followed by at least one blank: otherwise ``x notin y`` would lex as ``x not in y``. Keywords that
start a statement or an operand need no blank: where they may stand an identifier may stand too,
and the longest match turns ``returnx`` into a name.

Known gaps, all rare in real code: an f-string is a string with loose contents (its fields are not
parsed; as in Python 3.11, a field may not reuse the string's quote), ``\\N{...}`` names and the
order of parameters (``def f(a=1, b)``) are not checked, a number glued to a keyword
(``1if x else y``) and ``except``/``case`` glued to a name (``exceptE:``) are accepted, an infix
keyword glued to what follows it (``x in(1, 2)``, ``x or''``) is rejected, and so are blocks deeper
than ``depth`` and indentation in steps other than ``unit`` spaces (tabs too). Errors the compiler
finds after parsing (``return`` outside a function...) are accepted.
"""

from __future__ import annotations

import functools
import keyword
import re

# Hard keywords (the soft ones, match, case, type and _, are names too): never an identifier.
HARD_KEYWORDS = tuple(keyword.kwlist)

# Blanks a terminal may carry after it: on a logical line, and inside brackets.
_WS = {
    "l": r"(?:[ \t\f]|\\\r?\n)",
    "b": r"(?:[ \t\f\r\n]|\\\r?\n|#[^\r\n]*)",
}
_COMMENT = r"(?:#[^\r\n]*)?"
_BLANK_LINE = r"[ \t\f]*(?:#[^\r\n]*)?\r?\n"  # blank or comment-only: any indentation

_NAME = r"[\p{XID_Start}_]\p{XID_Continue}*"
_DIGITS = r"[0-9](?:_?[0-9])*"
_INT = r"[1-9](?:_?[0-9])*|0(?:_?0)*|0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
_FLOAT = rf"(?:(?:{_DIGITS})?\.{_DIGITS}|{_DIGITS}\.)(?:[eE][+-]?{_DIGITS})?|{_DIGITS}[eE][+-]?{_DIGITS}"
_NUMBER = rf"(?:{_FLOAT}|{_DIGITS})[jJ]|{_FLOAT}|{_INT}"
# Triple-quoted bodies never hold three quotes in a row (the lexer has no lazy repetition): each
# unit is up to two quotes and then something else.
_STRING = (
    r"(?:[rRuUbBfF]|[rR][bBfF]|[bBfF][rR])?"
    r"(?:'''(?:'{0,2}(?:[^'\\]|\\[\s\S]))*'''"
    r'|"""(?:"{0,2}(?:[^"\\]|\\[\s\S]))*"""'
    r"|'(?:[^'\\\r\n]|\\(?:\r\n|[\s\S]))*'"
    r'|"(?:[^"\\\r\n]|\\(?:\r\n|[\s\S]))*")'
)

_PUNCT = {
    "(": "LPAR",
    ")": "RPAR",
    "[": "LSQB",
    "]": "RSQB",
    "{": "LBRACE",
    "}": "RBRACE",
    ",": "COMMA",
    ":": "COLON",
    ";": "SEMI",
    ".": "DOT",
    "...": "ELLIPSIS",
    "=": "EQUAL",
    ":=": "WALRUS",
    "->": "ARROW",
    "@": "AT",
    "*": "STAR",
    "**": "DSTAR",
    "+": "PLUS",
    "-": "MINUS",
    "~": "TILDE",
    "/": "SLASH",
    "//": "DSLASH",
    "%": "PERCENT",
    "<<": "LSHIFT",
    ">>": "RSHIFT",
    "&": "AMP",
    "|": "VBAR",
    "^": "CIRC",
    "<": "LESS",
    ">": "MORE",
    "==": "EQEQ",
    "!=": "NOTEQ",
    "<=": "LESSEQ",
    ">=": "MOREEQ",
}
_OPENERS = "([{"
# Token classes a template names in upper case; each gets a copy per mode.
_CLASSES = ("NAME", "NUMBER", "STRING", "DOTS")

# ---------------------------------------------------------------------------------------------------
# Templates. A rule body is Lark, read token by token: "lit" is a terminal of the template's mode
# ("lit " with a trailing space: the keyword must be followed by at least one blank); a lower-case
# word defined in the same template is that rule in the same mode/depth; b.rule and l.rule name a
# rule of the bracket or line mode; NL (statements only) is the newline lexeme of the depth.

# Expressions, in both modes (what a mode never reaches is pruned). `is not` is `is` and then the
# operand's own `not`, so that `x is notable` still lexes `notable` as a name. Assignment targets
# are names, attributes, subscripts and bracketed lists of those, as in Python's grammar.
_EXPRESSIONS = r"""
namedexpr: NAME ":=" test | test
test: or_test ("if " or_test "else " test)? | lambdef
lambdef: "lambda" lambda_params? ":" test
lambda_params: lambda_param ("," lambda_param)* ","?
lambda_param: NAME ("=" test)? | "*" NAME? | "**" NAME | "/"
or_test: and_test ("or " and_test)*
and_test: not_test ("and " not_test)*
not_test: "not" not_test | comparison
comparison: bitor (comp_op bitor)*
comp_op: "<" | ">" | "==" | ">=" | "<=" | "!=" | "in " | "not " "in " | "is " "not"?
bitor: bitxor ("|" bitxor)*
bitxor: bitand ("^" bitand)*
bitand: shift ("&" shift)*
shift: arith (("<<" | ">>") arith)*
arith: term (("+" | "-") term)*
term: factor (("*" | "/" | "//" | "%" | "@") factor)*
factor: ("+" | "-" | "~") factor | power
power: "await"? primary ("**" factor)?
primary: atom trailer*
trailer: "(" b.args? ")" | "[" b.subscripts "]" | "." NAME
atom: NAME | NUMBER | STRING+ | "..." | "None" | "True" | "False"
    | "(" b.paren_body? ")" | "[" b.list_body? "]" | "{" b.brace_body? "}"
star_expr: "*" bitor
star_test: star_expr | test
star_named: star_expr | namedexpr
star_exprs: test | star_test "," (star_test ("," star_test)* ","?)?
star_named_exprs: star_named ("," star_named)* ","?
named_tuple: namedexpr | star_named "," star_named_exprs?
star_targets: target | star_target "," star_target_seq?
star_target_seq: star_target ("," star_target)* ","?
star_target: "*"? target
target: NAME | primary ("." NAME | "[" b.subscripts "]") | "(" b.star_targets? ")" | "[" b.star_target_seq? "]"
single_target: NAME | primary ("." NAME | "[" b.subscripts "]") | "(" b.single_target ")"
yield_expr: "yield" ("from" test | star_exprs)?
args: (pos_arg ("," pos_arg)* ("," keywords)? | keywords) ","? | test comp_for
pos_arg: "*" test | namedexpr
keywords: kwarg ("," (kwarg | "*" test))* ("," "**" test ("," (kwarg | "**" test))*)?
    | "**" test ("," (kwarg | "**" test))*
kwarg: NAME "=" test
subscripts: subscript ("," subscript)* ","?
subscript: test? ":" test? (":" test?)? | namedexpr | star_expr
paren_body: yield_expr | namedexpr comp_for | named_tuple
list_body: namedexpr comp_for | star_named_exprs
brace_body: dict_item ("," dict_item)* ","? | test ":" test comp_for | namedexpr comp_for | star_named_exprs
dict_item: test ":" test | "**" bitor
comp_for: comp_clause (comp_clause | "if " or_test)*
comp_clause: "async "? "for " star_targets "in " or_test
"""

# Patterns of match/case statements, in both modes.
_PATTERNS = r"""
patterns: maybe_star_pattern "," (maybe_star_pattern ("," maybe_star_pattern)* ","?)? | pattern
pattern: or_pattern ("as " NAME)?
or_pattern: closed_pattern ("|" closed_pattern)*
closed_pattern: literal_pattern | NAME | dotted_name | class_pattern | "(" b.pattern ")"
    | "(" b.seq_patterns? ")" | "[" b.seq_patterns? "]" | "{" b.mapping_patterns? "}"
literal_pattern: "-"? NUMBER (("+" | "-") NUMBER)? | STRING+ | "None" | "True" | "False"
dotted_name: NAME ("." NAME)+
class_pattern: (NAME | dotted_name) "(" b.class_patterns? ")"
maybe_star_pattern: "*" NAME | pattern
seq_patterns: maybe_star_pattern ("," maybe_star_pattern)* ","?
mapping_patterns: mapping_pattern ("," mapping_pattern)* ","?
mapping_pattern: (literal_pattern | dotted_name) ":" pattern | "**" NAME
class_patterns: class_pattern_arg ("," class_pattern_arg)* ","?
class_pattern_arg: pattern | NAME "=" pattern
"""

# Parameters and import lists: bracket mode (inside parentheses) except where l. says otherwise.
_BRACKETED = r"""
params: param ("," param)* ","?
param: NAME (":" test)? ("=" test)? | "/" | "*" (NAME (":" (test | star_expr))?)? | "**" NAME (":" test)?
type_param_list: type_param ("," type_param)* ","?
type_param: (NAME (":" test)? | "*" NAME | "**" NAME) ("=" test)?
import_names: NAME ("as " NAME)? ("," NAME ("as " NAME)?)* ","?
with_items: with_item ("," with_item)* ","?
with_item: test ("as " target)?
"""

# Simple statements: one logical line, line mode, any depth. A relative import's dots are one
# lexeme: the greedy lexer would take `..` for the start of `...` and stall.
_SIMPLE = r"""
simple_stmts: small_stmt (";" small_stmt)* ";"?
small_stmt: expr_stmt | return_stmt | raise_stmt | "pass" | "break" | "continue" | global_stmt
    | del_stmt | assert_stmt | import_name | import_from | type_alias
expr_stmt: (l.star_targets "=")+ rhs | l.single_target (":" l.test ("=" rhs)? | augassign rhs) | l.star_exprs
    | l.yield_expr
rhs: l.yield_expr | l.star_exprs
augassign: "+=" | "-=" | "*=" | "/=" | "//=" | "%=" | "@=" | "&=" | "|=" | "^=" | ">>=" | "<<=" | "**="
return_stmt: "return" l.star_exprs?
raise_stmt: "raise" (l.test ("from " l.test)?)?
global_stmt: ("global" | "nonlocal") NAME ("," NAME)*
del_stmt: "del" l.target ("," l.target)* ","?
assert_stmt: "assert" l.test ("," l.test)?
import_name: "import" dotted_as_name ("," dotted_as_name)*
dotted_as_name: module ("as " NAME)?
module: NAME ("." NAME)*
import_from: "from" (DOTS? module | DOTS) ("import " import_as_names | "import" ("*" | "(" b.import_names ")"))
import_as_names: NAME ("as " NAME)? ("," NAME ("as " NAME)?)*
type_alias: "type" NAME type_params? "=" l.test
type_params: "[" b.type_param_list "]"
"""

# Compound statements at one depth (line mode). `suite`, `compound` and the match statement are
# written per depth by _depth_rules: the deepest level has no block inside.
_COMPOUND = r"""
block: stmt (NL stmt)*
stmt: l.simple_stmts | compound
if_stmt: "if" l.namedexpr ":" suite (NL "elif" l.namedexpr ":" suite)* (NL "else" ":" suite)?
while_stmt: "while" l.namedexpr ":" suite (NL "else" ":" suite)?
for_stmt: "for" l.star_targets "in " l.star_exprs ":" suite (NL "else" ":" suite)?
try_stmt: "try" ":" suite ((NL except_clause)+ (NL "else" ":" suite)? (NL finally_clause)? | NL finally_clause)
except_clause: "except" ("*"? l.test ("as " NAME)?)? ":" suite
finally_clause: "finally" ":" suite
with_stmt: "with" (l.with_item ("," l.with_item)* | "(" b.with_items ")") ":" suite
funcdef: "def " NAME l.type_params? "(" b.params? ")" ("->" l.test)? ":" suite
classdef: "class " NAME l.type_params? ("(" b.args? ")")? ":" suite
decorated: ("@" l.namedexpr NL)+ ("async "? funcdef | classdef)
async_stmt: "async " (funcdef | with_stmt | for_stmt)
case_block: "case" l.patterns ("if " l.namedexpr)? ":" suite
"""

_COMPOUND_NAMES = ("if_stmt", "while_stmt", "for_stmt", "try_stmt", "with_stmt", "funcdef", "classdef")

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|((?:[a-z]+\.)?[A-Za-z_][A-Za-z0-9_]*)|(\S)')
_RULE = re.compile(r"^([a-z_]+):\s*(.*)$")


def _parse(template: str) -> dict[str, str]:
    """Rule name -> body; an indented line continues the previous rule."""
    rules: dict[str, str] = {}
    name = ""
    for line in template.strip().splitlines():
        if not line.strip():
            continue
        if line[:1].isspace():
            rules[name] += " " + line.strip()
            continue
        match = _RULE.match(line)
        assert match, line
        name, rules[name] = match.group(1), match.group(2)
    return rules


class _Builder:
    """Rules and terminals of one grammar, with the terminals' names per literal and mode."""

    def __init__(self) -> None:
        self.rules: dict[str, str] = {}
        self.terminals: dict[str, str] = {}

    def literal(self, text: str, mode: str) -> str:
        """The terminal of ``text`` (a trailing space: at least one blank after it) in ``mode``."""
        spaced = text.endswith(" ")
        word = text.rstrip()
        stem = _PUNCT.get(word) or (
            _PUNCT[word[:-1]] + "EQ" if word.endswith("=") and word[:-1] in _PUNCT else "KW_" + word.upper()
        )
        if word in _OPENERS:  # an opener always enters bracket mode
            mode = "b"
        name = f"{stem}{'_SP' if spaced else ''}_{mode.upper()}"
        blanks = f"WS{mode.upper()}1" if spaced else f"WS{mode.upper()}"
        self.terminals[name] = f'"{word}" {blanks}'
        return name

    def token_class(self, cls: str, mode: str) -> str:
        name = f"{cls}_{mode.upper()}"
        self.terminals[name] = f"{cls} WS{mode.upper()}"
        return name

    def instantiate(self, template: str, suffix: str, mode: str, also: tuple[str, ...] = ()) -> None:
        """Adds the template's rules named ``rule_<suffix>``, their literals in ``mode``; ``also``
        names rules of the same suffix defined elsewhere."""
        rules = _parse(template)
        local = set(rules) | set(also)

        def token(match: re.Match[str]) -> str:
            literal, word, other = match.groups()
            if literal is not None:
                return self.literal(literal, mode)
            if other is not None:
                return other
            prefix, _, bare = word.rpartition(".")
            if prefix in ("l", "b"):
                return f"{bare}_{prefix}"
            if word == "NL":
                return f"NL_{suffix}"
            if word in _CLASSES:
                return self.token_class(word, mode)
            if word in local:
                return f"{word}_{suffix}"
            return word

        self.rules.update({f"{name}_{suffix}": _TOKEN.sub(token, body) for name, body in rules.items()})


def _terminal_definitions(base: int, unit: int, depth: int) -> dict[str, str]:
    """The blanks, token classes and the newline lexemes of each depth, the lead, end and tail."""
    lines = f"(?:{_BLANK_LINE})*"
    defs = {
        "WSL": f"/{_WS['l']}*/",
        "WSL1": f"/{_WS['l']}+/",
        "WSB": f"/{_WS['b']}*/",
        "WSB1": f"/{_WS['b']}+/",
        "NAME": f"/{_NAME}/ & ~/(?:{'|'.join(HARD_KEYWORDS)})/",
        "NUMBER": f"/{_NUMBER}/",
        "STRING": f"/{_STRING}/",
        "DOTS": r"/\.+/",
        # Comment-only lines before the first statement, which still starts at the base column.
        "LEAD": f"/ {{{base}}}(?:#[^\\r\\n]*\\r?\\n{lines} {{{base}}})?/" if base else f"/#[^\\r\\n]*\\r?\\n{lines}/",
        # Blank and comment lines after the last statement, with no newline at the end or with one.
        "END": r"/#[^\r\n]*(?:\r?\n[ \t\f]*(?:#[^\r\n]*)?)*|(?:\r?\n[ \t\f]*(?:#[^\r\n]*)?)+/",
    }
    for k in range(depth + 1):
        defs[f"NL_{k}"] = f"/{_COMMENT}\\r?\\n{lines} {{{base + k * unit}}}/"
    if base:
        # A line indented less than the base closes every block the grammar checks: what follows
        # belongs to the enclosing code, which is not checked here.
        defs["TAIL"] = f"/{_COMMENT}\\r?\\n{lines} {{0,{base - 1}}}[^ \\t\\f\\r\\n#](?s:.)*/"
    return defs


def _depth_rules(builder: _Builder, k: int, depth: int) -> None:
    """Blocks and compound statements at depth k: column base + k * unit."""
    deeper = str(k + 1)
    builder.instantiate(_COMPOUND, str(k), "l", also=("suite", "compound"))
    compound = [f"{name}_{k}" for name in _COMPOUND_NAMES] + [f"decorated_{k}", f"async_stmt_{k}"]
    inline = "simple_stmts_l"
    if k < depth:
        builder.rules[f"suite_{k}"] = f"{inline} | NL_{deeper} block_{deeper}"
        # Cases are one level in, their bodies two: a match at depth k needs depth k + 1.
        match = builder.literal("match", "l")
        colon = builder.literal(":", "l")
        builder.rules[f"match_stmt_{k}"] = (
            f"{match} named_tuple_l {colon} NL_{deeper} case_block_{deeper} (NL_{deeper} case_block_{deeper})*"
        )
        compound.append(f"match_stmt_{k}")
    else:
        builder.rules[f"suite_{k}"] = inline
    builder.rules[f"compound_{k}"] = " | ".join(compound)


def _reachable(rules: dict[str, str], terminals: dict[str, str]) -> set[str]:
    seen, todo = {"start"}, ["start"]
    word = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
    while todo:
        name = todo.pop()
        body = rules.get(name) or terminals.get(name) or ""
        body = re.sub(r'"(?:[^"\\]|\\.)*"|/(?:\\.|[^/\\])+/', " ", body)
        for ref in word.findall(body):
            if ref not in seen and (ref in rules or ref in terminals):
                seen.add(ref)
                todo.append(ref)
    return seen


@functools.lru_cache(maxsize=64)
def python_grammar(base: int, unit: int = 4, depth: int = 8) -> str:
    """Lark text for llguidance: Python statements at column ``base`` (the text starts with ``base``
    spaces, or with comment lines and then those), blocks nested up to ``depth`` levels of ``unit``
    spaces deeper. The text may end right after a complete statement, with or without newlines,
    blank and comment lines; when ``base > 0`` a line indented less than ``base`` ends the checked
    part, and anything may follow it."""
    if base < 0 or unit < 1 or depth < 0:
        raise ValueError(f"python_grammar(base={base}, unit={unit}, depth={depth})")
    builder = _Builder()
    for mode in ("l", "b"):
        builder.instantiate(_EXPRESSIONS + _PATTERNS + _BRACKETED, mode, mode)
    builder.instantiate(_SIMPLE, "l", "l")
    for k in range(depth + 1):
        _depth_rules(builder, k, depth)
    tail = " (END | TAIL)?" if base else " END?"
    builder.rules["start"] = ("LEAD " if base else "LEAD? ") + "block_0" + tail

    terminals = _terminal_definitions(base, unit, depth) | builder.terminals
    keep = _reachable(builder.rules, terminals)
    out = [f"start: {builder.rules.pop('start')}"]
    out += [f"{name}: {body}" for name, body in builder.rules.items() if name in keep]
    out += [f"{name}: {body}" for name, body in terminals.items() if name in keep]
    return "\n".join(out) + "\n"


def grammar_stats(grammar: str) -> tuple[int, int]:
    """(bytes, rules) of a grammar from python_grammar: its size, and its lower-case rules."""
    return len(grammar.encode()), sum(1 for line in grammar.splitlines() if line[:1].islower())
