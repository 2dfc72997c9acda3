"""Prompt templates: the built-in ones render today's prompts byte for byte, a project's own are
checked at their key in `.ananke.toml` (syntax, variables, what the sandbox refuses, files inside
the project only), and a real server sends what a project's template says."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.workspace import TextDocument
from pytest_lsp import LanguageClient

from ananke_lsp.config import ProjectConfig, load_config
from ananke_lsp.config.schema import TemplateSettings
from ananke_lsp.context.cursor import cursor_context
from ananke_lsp.engines.base import DEFAULT_SYSTEM, EngineRequest
from ananke_lsp.errors import ConfigError, PromptError
from ananke_lsp.server.completion import inline_prompt
from ananke_lsp.server.generate_actions import GenerateFromComment
from ananke_lsp.server.json_actions import FillJson
from ananke_lsp.server.python_actions import AddDocstring, ImplementFunction
from ananke_lsp.server.targets import Target
from ananke_lsp.templates import NAMES, TEMPLATES, PromptTemplates, check_template

from .lsp_client import SERVER, actions, command, open_doc, session

SOURCE = """import math  # {{ not_a_variable }} {% raw %}


def mean(values: list[float]) -> float:
    ...


def hypotenuse(a: float, b: float) -> float:
    return math.sqrt(a * a + b * b)


def area(r):
    # the area of a circle of radius r, in {{ units }}
    pass
"""


def _target(root: Path, text: str, name: str = "src/mod.py", language: str = "python", project=None) -> Target:
    path = root / name
    doc = TextDocument(path.as_uri(), text, version=1, language_id=language)
    return Target(path.as_uri(), doc, path, project or ProjectConfig.default(root))


def _write(root: Path, text: str, name: str = ".ananke.toml") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _issues(path: Path) -> list:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.issues


# -- the built-in templates are today's prompts ------------------------------------------------


def _old_fill_prompt(target: Target, lines: list[str], start: int) -> str:
    """The prompt fill_between built before templates (python_actions.py at 3f207d7)."""
    window = target.project.settings.completion
    return "\n".join(lines[max(0, start - window.prefix_lines) : start]) + "\n"


@pytest.mark.parametrize("prefix_lines", [256, 3])
def test_code_actions_render_the_same_prompts_as_before(tmp_path: Path, prefix_lines: int) -> None:
    project = load_config(_write(tmp_path, f"[completion]\nprefix_lines = {prefix_lines}\n"))
    target = _target(tmp_path, SOURCE, project=project)
    lines = SOURCE.split("\n")

    implement = ImplementFunction().prepare(target, [3]).request
    assert implement.prompt == _old_fill_prompt(target, lines, 4) and implement.system is None
    docstring = AddDocstring().prepare(target, [11]).request
    assert docstring.prompt == _old_fill_prompt(target, lines, 12)
    comment = GenerateFromComment().prepare(target, ["comment", 12]).request
    assert comment.prompt == _old_fill_prompt(target, lines, 13)

    selection = GenerateFromComment().prepare(target, ["selection", 11, 12]).request
    described = "\n".join(lines[11:13]).strip()
    assert selection.prompt == f"Write python code that does this:\n{described}"
    old = EngineRequest(prompt=selection.prompt, chat=True, constraints=selection.constraints, context=target.context)
    assert selection.system == DEFAULT_SYSTEM and selection.system_prompt() == old.system_prompt()


def test_fill_json_renders_the_same_prompt_and_system_message_as_before(tmp_path: Path) -> None:
    _write(tmp_path, '{"type": "object", "properties": {"a": {"type": "integer"}}}', "s.json")
    config = '[[constraints]]\nname = "app"\nfiles = ["*.json"]\njson_schema_file = "s.json"\n'
    target = _target(tmp_path, "{}\n", "app.json", "json", load_config(_write(tmp_path, config)))
    request = FillJson().prepare(target, []).request
    assert request.prompt == "Write a complete, realistic app.json document."
    old = EngineRequest(prompt=request.prompt, chat=True, constraints=request.constraints, context=target.context)
    assert request.system_prompt() == old.system_prompt()
    assert request.system_prompt().startswith(DEFAULT_SYSTEM + "\nLanguage: json\n")


@pytest.mark.parametrize(
    "text",
    [
        SOURCE,
        "",
        "x = {{ y }}  {% if %} {# #}\n\n\n",
        "s = 'ünïcødé ✓'\r\n    ",
        "\t\tdef f():\n\t\t\treturn {%- raw -%}",
    ],
)
def test_inline_completion_prompt_is_the_text_before_the_cursor(tmp_path: Path, text: str) -> None:
    for offset in {0, len(text) // 2, len(text)}:
        cursor = cursor_context(text, offset, 256, 64)
        assert inline_prompt(_target(tmp_path, text), cursor) == cursor.prefix


def test_every_template_has_its_keys_and_defaults_that_check() -> None:
    fields = set(TemplateSettings.model_fields)
    assert fields == {*NAMES, *(f"{name}_file" for name in NAMES)}
    for name, info in TEMPLATES.items():
        assert check_template(name, info.default) is None, name
        assert {"language", "file"} <= set(info.variables), name


def test_render_takes_exactly_the_declared_variables() -> None:
    prompts = PromptTemplates()
    with pytest.raises(TypeError):
        prompts.render("fill_json", name="a.json", schema_name="s", language="json")  # file missing
    with pytest.raises(TypeError):
        prompts.render("fill_json", name="a.json", schema_name="s", language="json", file="a", extra="x")


# -- a project's templates in .ananke.toml -----------------------------------------------------


def test_project_templates_inline_and_from_a_file(tmp_path: Path) -> None:
    _write(tmp_path, "# house style: numpy docstrings\n{{ code_before }}", "prompts/doc.j2")
    text = (
        '[templates]\nimplement_function = """# {{ function_name }} in {{ file }}\n{{ code_before }}"""\n'
        'add_docstring_file = "prompts/doc.j2"\n'
    )
    project = load_config(_write(tmp_path, text))
    target = _target(tmp_path, SOURCE, project=project)
    lines = SOURCE.split("\n")
    assert (
        ImplementFunction().prepare(target, [3]).request.prompt
        == "# mean in src/mod.py\n" + "\n".join(lines[:4]) + "\n"
    )
    docstring = AddDocstring().prepare(target, [11]).request.prompt
    assert docstring.startswith("# house style: numpy docstrings\nimport math")
    # the others stay built in
    assert GenerateFromComment().prepare(target, ["comment", 12]).request.prompt == "\n".join(lines[:13]) + "\n"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ code_before }\n", "line 1 of the template: unexpected '}'"),
        ("first\n{% if language %}\n{{ code_before }}", "line 3 of the template: Unexpected end of template"),
        ("{{ code_befor }}", "unknown variable 'code_befor' (did you mean 'code_before'?)"),
        ("{{ selection }}", "unknown variable 'selection'; template 'add_docstring' offers: code_before"),
        ("{% include 'secrets.txt' %}", "{% include %} is not allowed in a prompt template: a template cannot read"),
        ("{% import 'x' as x %}", "{% import %} is not allowed"),
        ("{% extends 'base' %}", "{% extends %} is not allowed"),
        ("{{ code_before.__class__.__mro__ }}", "sandbox refuses it: access to attribute '__class__'"),
        ("{{ self.__init__.__globals__ }}", "sandbox refuses it: access to attribute '__init__'"),
        ("{{ cycler.__init__.__globals__.os }}", "unknown variable 'cycler'"),
        ("{{ code_before.upper() }}", "a call is not allowed"),
        ("{% for c in code_before %}{{ c }}{% endfor %}", "{% for %} is not allowed"),
        ("{% set x = code_before ~ code_before %}{{ x }}", "{% set %} is not allowed"),
        ("{{ code_before * 1000000 }}", "the operator '*' is not allowed"),
        ("{{ code_before | replace('', code_before) }}", "no filter 'replace'"),
        ("{{ code_before + 1 }}", "TypeError"),
        ("{{ " + "(" * 5000 + "code_before" + ")" * 5000 + " }}", "the template nests too deeply"),
    ],
)
def test_a_bad_inline_template_is_reported_at_its_key(tmp_path: Path, template: str, expected: str) -> None:
    text = f"[generation]\nmax_tokens = 64\n\n[templates]\nadd_docstring = '''{template}'''\n"
    [issue] = _issues(_write(tmp_path, text))
    assert issue.line == 5 and issue.key == "templates.add_docstring", issue
    assert issue.message.startswith("templates.add_docstring: ") and expected in issue.message, issue.message


def test_unknown_template_names_and_both_sources_are_errors(tmp_path: Path) -> None:
    [unknown] = _issues(_write(tmp_path, '[templates]\nsystem = "be brief"\nadd_docstrings = "x"\n'))
    assert unknown.line == 3 and unknown.key == "templates.add_docstrings"
    assert "unknown key 'add_docstrings' in [templates] (did you mean 'add_docstring'?)" in unknown.message
    _write(tmp_path, "{{ code_before }}", "doc.j2")
    [both] = _issues(_write(tmp_path, '[templates]\nsystem = "be brief"\nsystem_file = "doc.j2"\n'))
    assert both.line == 3 and "set system or system_file, not both" in both.message
    [wrong_type] = _issues(_write(tmp_path, "[templates]\nsystem = 3\n"))
    assert wrong_type.line == 2 and "must be a string" in wrong_type.message


def test_template_files_are_read_inside_the_project_only(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(tmp_path, "{{ code_before }}", "outside.j2")
    _write(project, "{{ code_before }}", ".env")
    _write(project, "{{ code_before }}", "private/doc.j2")
    _write(project, "line one\n{{ code_befor }}", "prompts/typo.j2")
    text = (
        '[privacy]\nexclude = ["private/**"]\n\n[templates]\n'
        'inline_completion_file = "../outside.j2"\n'
        'implement_function_file = ".env"\n'
        'add_docstring_file = "private/doc.j2"\n'
        'generate_from_comment_file = "prompts/missing.j2"\n'
        'fill_json_file = "prompts/typo.j2"\n'
    )
    outside, env, private, missing, typo = _issues(_write(project, text))
    assert outside.line == 5 and "outside the config's directory" in outside.message
    assert env.line == 6 and "matches a privacy rule" in env.message
    assert private.line == 7 and "matches a privacy rule" in private.message
    assert missing.line == 8 and "'prompts/missing.j2' not found" in missing.message
    assert typo.line == 9 and typo.key == "templates.fill_json_file"
    assert "in prompts/typo.j2: unknown variable 'code_befor'" in typo.message


def test_a_render_time_failure_is_a_clear_error() -> None:
    template = "{% if language == 'python' %}{{ code_before.__class__ }}{% endif %}{{ code_before }}"
    assert check_template("inline_completion", template) is None  # the trial rendering is not Python
    prompts = PromptTemplates({"inline_completion": template}, origin="/p/.ananke.toml")
    values = {"code_before": "x = ", "code_after": "", "indent": "", "file": "a.py"}
    assert prompts.render("inline_completion", language="text", **values) == "x = "
    with pytest.raises(PromptError, match=r"template 'inline_completion' of /p/.ananke.toml failed: access to"):
        prompts.render("inline_completion", language="python", **values)


# -- in a real server --------------------------------------------------------------------------

FUNCS = """import math


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def hypotenuse(a: float, b: float) -> float:
    return math.sqrt(a * a + b * b)
"""
CONFIG = "[generation]\nmax_tokens = 24\ntemperature = 0.0\n"  # the prompt is the point, not the answer
MARKER = "# House style: every docstring is one short imperative sentence, then a blank line.\n" * 3
STYLED = (
    CONFIG
    + "\n[templates]\n"
    + f'add_docstring = """{MARKER}{{{{ code_before }}}}"""\n'
    + 'system = """You write {{ language }} for a team that values short, plain code: every name is spelled out\n'
    + 'and every function is small. Answer with the code only."""\n'
    + 'generate_from_selection = """Write {{ language }} code in {{ file }} that does this:\n{{ selection }}"""\n'
)
RENDER_FAILS = (
    CONFIG + "\n[templates]\nadd_docstring = '''{% if language == 'python' %}{{ file.__class__ }}{% endif %}'''\n"
)
BROKEN = CONFIG + '\n[templates]\nfill_json = "Write {{ name }"\n'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("templates")
    _write(root, CONFIG)
    _write(root, STYLED, "styled/.ananke.toml")
    _write(root, RENDER_FAILS, "fails/.ananke.toml")
    return root


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, project: Path):
    async with session(lsp_client, project, {"logLevel": "debug"}):
        yield


async def _run(client: LanguageClient, uri: str, title: str, start: int, end: int | None = None) -> dict:
    """Resolve the action ``title`` offered at lines ``start``..``end``; the provenance of its generation."""
    begin = types.Position(line=start, character=0)
    until = types.Position(line=end + 1, character=0) if end is not None else None
    [action] = [a for a in await actions(client, uri, begin, until) if a.title == title]
    # the tiny model's text may miss a constraint (nothing applied): the prompt it got is the point
    with contextlib.suppress(JsonRpcException):
        await client.code_action_resolve_async(action)
    return await command(client, "ananke.showProvenance")


async def test_a_project_template_is_what_the_engine_gets(client: LanguageClient, project: Path):
    title = "Add docstring to 'mean'"
    plain = await _run(client, open_doc(client, project / "plain.py", FUNCS), title, 3)
    styled = await _run(client, open_doc(client, project / "styled" / "styled.py", FUNCS), title, 3)
    assert plain["file"].endswith("plain.py") and styled["file"].endswith("styled.py")
    # the same code, with the three lines of house style before it: about 17 tokens each
    assert styled["prompt_tokens"] - plain["prompt_tokens"] >= 3 * 12, (plain, styled)
    logged = [m.message for m in client.log_messages]
    assert any("prompt from the template 'add_docstring' of" in m and "styled" in m for m in logged)


async def test_a_project_system_and_instruction_template_reach_a_chat_request(client: LanguageClient, project: Path):
    text = FUNCS + "\n# print the mean of 1, 2 and 3\n"
    line = text.count("\n") - 1
    title = "Generate code from the selection"
    plain = await _run(client, open_doc(client, project / "sel_plain.py", text), title, line, line)
    styled = await _run(client, open_doc(client, project / "styled" / "sel_styled.py", text), title, line, line)
    assert plain["file"].endswith("sel_plain.py") and styled["file"].endswith("sel_styled.py")
    # the system and instruction templates add about 24 tokens; the longer path alone, about 7
    assert styled["prompt_tokens"] - plain["prompt_tokens"] >= 18, (plain, styled)
    logged = [m.message for m in client.log_messages]
    for name in ("system", "generate_from_selection"):
        assert any(f"prompt from the template '{name}' of" in m for m in logged), name


async def test_a_template_failing_to_render_fails_the_action_not_the_server(client: LanguageClient, project: Path):
    uri = open_doc(client, project / "fails" / "mod.py", FUNCS)
    before = (await command(client, "ananke.cacheStats"))["engine_requests"]
    [action] = [a for a in await actions(client, uri, types.Position(line=3, character=0)) if "docstring" in a.title]
    with pytest.raises(Exception, match=r"prompt template 'add_docstring' of .*fails/.ananke.toml failed: access to"):
        await client.code_action_resolve_async(action)
    after = await command(client, "ananke.cacheStats")  # the server still answers
    assert after["engine_requests"] == before  # and nothing was sent


async def test_a_broken_template_is_a_diagnostic_on_its_line(client: LanguageClient, project: Path):
    broken = _write(project, BROKEN, "broken/.ananke.toml")
    open_doc(client, broken, BROKEN, language="toml")
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    [diagnostic] = client.diagnostics[broken.as_uri()]
    assert diagnostic.range.start.line == BROKEN.split("\n").index('fill_json = "Write {{ name }"')
    assert "templates.fill_json: line 1 of the template: unexpected '}'" in diagnostic.message
