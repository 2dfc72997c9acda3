"""The KV states of recently left prompts, so that going back to one does not re-read it.

A llama.cpp context holds one sequence, and a request keeps only the prefix its prompt shares with
the previous one. After a request for another file (whose path and head differ) that is almost
nothing, and coming back cost the whole prompt again (seconds on a CPU). Within a file, the text
after the cursor changes when a bracket is typed (the editor adds its closer after the cursor) and
when the closer is typed over: the prompt from there on (the code after the cursor, the typed
lines) was read again twice per bracket pair. So before a long evaluated part of the live sequence
is given up, its KV cells are copied out (``llama_state_seq_get_data``: some KB per token), and a
prompt that shares more with a saved state than with the live one starts from it. Bounded in bytes;
the least recently used go first."""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # llama-cpp-python is an optional extra
    from llama_cpp import Llama

# A prompt this short is read again faster than its state is worth keeping and searching.
MIN_TOKENS = 64


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if differ.size else n


@dataclass(frozen=True)
class _Snapshot:
    tokens: np.ndarray
    state: ctypes.Array[ctypes.c_uint8]


class KvSnapshots:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._saved: OrderedDict[int, _Snapshot] = OrderedDict()  # least recently used first
        self._next = 0
        self.restored = 0  # how many prompts started from a saved state (for tests and the bench)

    @property
    def bytes(self) -> int:
        return sum(len(s.state) for s in self._saved.values())

    def switch(self, llm: Llama, tokens: np.ndarray, live_common: int, live_prompt: int) -> int:
        """Before the live sequence is cut back to ``live_common`` tokens of ``tokens``: save it
        if that gives up ``MIN_TOKENS`` or more of its prompt (its first ``live_prompt`` tokens;
        the rest were generated), and start from the saved state sharing the most with ``tokens``
        if it beats the live one. Returns the tokens already evaluated."""
        import llama_cpp

        if live_prompt - live_common >= MIN_TOKENS:  # another file, or other text after the cursor
            self._save(llm)
        best, shared = None, live_common
        for key, snap in self._saved.items():
            common = common_prefix(snap.tokens, tokens)
            if common >= shared + MIN_TOKENS:
                best, shared = key, common
        if best is None:
            return live_common
        snap = self._saved.pop(best)
        self._saved[best] = snap  # most recently used
        ctx = llm.ctx
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), 0, -1, -1)
        if llama_cpp.llama_state_seq_set_data(ctx, snap.state, len(snap.state), 0) == 0:
            del self._saved[best]  # llama.cpp refused it (another context shape): read the prompt again
            llm.n_tokens = 0
            return 0
        llm.input_ids[: len(snap.tokens)] = snap.tokens
        llm.n_tokens = len(snap.tokens)
        self.restored += 1
        return shared

    def _save(self, llm: Llama) -> None:
        import llama_cpp

        ctx = llm.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if size > self.max_bytes:
            return
        state = (ctypes.c_uint8 * size)()
        if llama_cpp.llama_state_seq_get_data(ctx, state, size, 0) == 0:
            return
        tokens = np.array(llm.input_ids[: llm.n_tokens], copy=True)
        for key in [k for k, s in self._saved.items() if common_prefix(s.tokens, tokens) > len(s.tokens) - MIN_TOKENS]:
            del self._saved[key]  # an older state of the same prompt (a few keys ago): this one supersedes it
        self._saved[self._next] = _Snapshot(tokens, state)
        self._next += 1
        while self.bytes > self.max_bytes:
            self._saved.popitem(last=False)
