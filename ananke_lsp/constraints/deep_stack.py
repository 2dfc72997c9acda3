"""Run llguidance's grammar compiles on a thread with a large stack.

llguidance (1.9) compiles a grammar recursively, one native stack frame chain per level of rule
nesting, with no depth limit of its own: on a default 8 MiB thread stack a Lark grammar of ~3000
chained rules (``r0: r1``, ``r1: r2``, …; 37 KB) or a JSON schema whose ``$ref`` chain runs ~3000
deep kills the process with SIGSEGV. Constraints come from project files and HTTP requests, so
that is one request taking the server down. Every compile therefore runs on a thread whose stack
holds the deepest input that fits in ``MAX_CONSTRAINT_BYTES`` with room to spare (the figures are
in docs/reliability.md); compiled matchers are then used on any thread, since consuming tokens
and computing masks do not recurse per rule. The stack is reserved address space: only the pages
a compile touches are ever committed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

STACK_BYTES = 1 << 30
_NAME = "ananke-compile"
_start_lock = threading.Lock()


def on_deep_stack(fn: Callable[[], T]) -> T:
    """``fn()`` run on a thread with a ``STACK_BYTES`` stack (directly when already on one);
    its result or exception comes back to the caller."""
    if threading.current_thread().name == _NAME:
        return fn()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # handed back to the caller, never lost
            failure.append(exc)

    thread = threading.Thread(target=run, name=_NAME, daemon=True)
    with _start_lock:  # the stack size is process-wide: set it only around this one start
        previous = threading.stack_size(STACK_BYTES)
        try:
            thread.start()
        finally:
            threading.stack_size(previous)
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
