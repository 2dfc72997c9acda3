"""Prompt templates: every prompt the language server builds is rendered from a named template,
which a project may replace in the ``[templates]`` section of its ``.ananke.toml``.

A template is text, not code. It is rendered by Jinja's immutable sandbox, with no loader (it
cannot read another file) and strict undefined values (a misspelt variable is an error), and it
may use only a subset of Jinja: its variables (each template offers a fixed set, all strings),
string literals, ``{% if %}``, comparisons, ``~``/``+``, indexing and slicing, and a few filters
(``FILTERS``). No loops, no ``{% set %}``, no macros, no calls, no ``include``/``import``/
``extends``: besides nothing to run and nothing to read, rendering then takes time and memory in
proportion to the template and its variables, so a repository's template cannot stall the editor.

The defaults render exactly the prompts the server built before templates existed (byte for
byte: ``tests/test_templates.py``), so no figure in ``bench/`` moves while a project sets none."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .engines.base import DEFAULT_SYSTEM
from .errors import PromptError

MAX_TEMPLATE_CHARS = 64 * 1024  # a prompt template is a few lines; more is a mistake
# Each variable may be a whole window of code: at most this many uses in one template bound the
# rendered prompt to about that many windows.
MAX_VARIABLE_USES = 32

# The code-before-the-hole templates (raw text the model continues, no chat): what they offer.
_HOLE = ("code_before", "code_after", "indent", "language", "file")


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    default: str
    variables: tuple[str, ...]
    renders: str  # what the rendered text is, for people


TEMPLATES: dict[str, TemplateInfo] = {
    t.name: t
    for t in (
        TemplateInfo(
            "inline_completion",
            "{{ code_before }}",
            _HOLE,
            "inline and completion-item suggestions: the text before the cursor (raw fill-in-the-middle)",
        ),
        TemplateInfo(
            "implement_function",
            "{{ code_before }}",
            (*_HOLE, "function_name"),
            "Implement function: the text before the new body (raw fill-in-the-middle)",
        ),
        TemplateInfo(
            "add_docstring",
            "{{ code_before }}",
            (*_HOLE, "function_name"),
            "Add docstring: the text before the docstring (raw fill-in-the-middle)",
        ),
        TemplateInfo(
            "generate_from_comment",
            "{{ code_before }}",
            (*_HOLE, "comment"),
            "Generate code from this comment: the text before the new code (raw fill-in-the-middle)",
        ),
        TemplateInfo(
            "generate_from_selection",
            "Write {{ language }} code that does this:\n{{ selection }}",
            ("selection", "code_before", "code_after", "indent", "language", "file"),
            "Generate code from the selection: the instruction (chat)",
        ),
        TemplateInfo(
            "fill_json",
            "Write a complete, realistic {{ name }} document.",
            ("name", "schema_name", "language", "file"),
            "Fill JSON from schema: the instruction (chat)",
        ),
        TemplateInfo(
            "system",
            DEFAULT_SYSTEM,
            ("action", "language", "file"),
            "the system message of chat requests, before the context and constraint lines",
        ),
    )
}
NAMES: tuple[str, ...] = tuple(TEMPLATES)

FILTERS = frozenset(
    {
        "capitalize",
        "count",
        "d",
        "default",
        "first",
        "last",
        "length",
        "lower",
        "string",
        "title",
        "trim",
        "truncate",
        "upper",
        "wordcount",
    }
)
# Syntax whose output is no bigger than its parts (with FILTERS, whose output is linear in their input).
_ALLOWED = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.If,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
    nodes.Add,
    nodes.Sub,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.Tuple,
    nodes.List,
    nodes.Pair,
    nodes.Dict,
    nodes.Keyword,
)
_READS = ": a template cannot read other files"
_REFUSED: dict[type[nodes.Node], tuple[str, str]] = {  # what is refused, and why where it is not obvious
    nodes.Include: ("{% include %}", _READS),
    nodes.Import: ("{% import %}", _READS),
    nodes.FromImport: ("{% from ... import %}", _READS),
    nodes.Extends: ("{% extends %}", _READS),
    nodes.Call: ("a call", ": a template is text with variables, it runs nothing"),
    nodes.For: ("{% for %}", ""),
    nodes.Macro: ("{% macro %}", ""),
    nodes.CallBlock: ("{% call %}", ""),
    nodes.Assign: ("{% set %}", ""),
    nodes.AssignBlock: ("{% set %}", ""),
    nodes.With: ("{% with %}", ""),
    nodes.FilterBlock: ("{% filter %}", ""),
    nodes.Block: ("{% block %}", ""),
    nodes.Mul: ("the operator '*'", ""),
    nodes.Pow: ("the operator '**'", ""),
    nodes.Mod: ("the operator '%'", ""),
    nodes.FloorDiv: ("the operator '//'", ""),
    nodes.Div: ("the operator '/'", ""),
}


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.globals.clear()  # range, cycler, lipsum...: nothing but the template's own variables
    env.filters = {name: f for name, f in env.filters.items() if name in FILTERS}
    return env


_ENV = _environment()


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return _ENV.from_string(source)


def check_template(name: str, source: str) -> str | None:
    """Why ``source`` cannot be the template ``name``, or None when it can: its syntax, the Jinja
    it may use, its variables, and a trial rendering (what the sandbox refuses is refused here)."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return f"the template is longer than {MAX_TEMPLATE_CHARS // 1024} KiB"
    if "\x00" in source:
        return "the template contains a NUL character"
    try:
        return _check(TEMPLATES[name], source)
    except RecursionError:  # Jinja's parser and compiler recurse once per level of nesting
        return "the template nests too deeply"


def _check(info: TemplateInfo, source: str) -> str | None:
    name = info.name
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno} of the template: {exc.message}"
    uses = 0
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED):
            what, why = _REFUSED.get(type(node), (type(node).__name__, ""))
            return f"line {node.lineno} of the template: {what} is not allowed in a prompt template{why}"
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            offered = ", ".join(sorted(FILTERS))
            return f"line {node.lineno} of the template: no filter '{node.name}' (a template may use: {offered})"
        if isinstance(node, nodes.Test) and node.name not in _ENV.tests:
            return f"line {node.lineno} of the template: no test '{node.name}'"
        uses += isinstance(node, nodes.Name)
    if uses > MAX_VARIABLE_USES:
        return f"the template uses variables {uses} times; at most {MAX_VARIABLE_USES} uses are allowed"
    unknown = sorted(meta.find_undeclared_variables(tree) - set(info.variables))
    if unknown:
        close = difflib.get_close_matches(unknown[0], info.variables, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown variable '{unknown[0]}'{hint}; template '{name}' offers: {', '.join(info.variables)}"
    try:
        _compiled(source).render({v: f"<{v}>" for v in info.variables})
    except SecurityError as exc:
        return f"the template sandbox refuses it: {exc}"
    except UndefinedError as exc:
        if "has no element" not in str(exc):  # an index past a sample's end depends on the values
            return f"the template fails: {exc.message}"
    except TemplateError as exc:
        return f"the template fails: {exc.message}"
    except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as exc:
        return f"the template fails: {type(exc).__name__}: {exc}"
    return None


class PromptTemplates:
    """The templates one project renders: the built-in ones, replaced where ``overrides`` says
    (sources already checked by ``check_template``); ``origin`` names where they come from."""

    def __init__(self, overrides: Mapping[str, str] | None = None, origin: str = "the project's .ananke.toml") -> None:
        self.overrides = dict(overrides or {})
        self.origin = origin
        for name in self.overrides:
            if name not in TEMPLATES:
                raise ValueError(f"unknown prompt template {name!r}; expected one of {', '.join(NAMES)}")

    def __repr__(self) -> str:
        return f"PromptTemplates(overrides={sorted(self.overrides)}, origin={self.origin!r})"

    def source(self, name: str) -> str:
        return self.overrides.get(name, TEMPLATES[name].default)

    def is_overridden(self, name: str) -> bool:
        return name in self.overrides

    def render(self, name: str, /, **values: str) -> str:
        """``name`` rendered with exactly its variables; ``PromptError`` when it fails."""
        info = TEMPLATES[name]
        if set(values) != set(info.variables):  # the server's own mistake: every variable, nothing else
            raise TypeError(f"template {name!r} takes {sorted(info.variables)}, got {sorted(values)}")
        try:
            return _compiled(self.source(name)).render(values)
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as exc:
            whose = f"of {self.origin}" if self.is_overridden(name) else "(built in)"
            reason = exc.message if isinstance(exc, TemplateError) and exc.message else f"{type(exc).__name__}: {exc}"
            raise PromptError(f"the prompt template '{name}' {whose} failed: {reason}") from None


DEFAULT_TEMPLATES = PromptTemplates()
