"""How much of a prompt the model has already read: its one KV sequence kept across requests.

- **The common prefix** with the previous prompt (llama.cpp's ``cache_prompt``): editor requests
  for one file share most of their beginning.
- **A recently left prompt** (``kv_snapshots.py``): coming back to a file, or to the text after
  the cursor as it was before a bracket and its closer were typed.

Why the typed lines open the middle (``fim.typed_fim_prompt``): in the plain form
``<PRE> before <SUF> after <MID>`` a keystroke changes the end of ``before``, and the whole suffix
after it was read again at every key. Moving the suffix's KV cells to their new positions (as
llama.cpp's ``cache_reuse`` does for chunks) was tried: the moved cells were computed with the old
end of ``before`` in view, and the model followed them, not the typed text (after typing ``ret``
it suggested ``return …`` where reading the prompt from nothing gives ``urn …``). Qwen2.5-Coder
does not know the suffix-first order either. With the lines typed since a grid line after
``<MID>``, the suffix is read again only when the text after the cursor changes (the cursor moved)
or a grid line is crossed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..environment import ModelEnvironment, from_environment
from .kv_snapshots import KvSnapshots, common_prefix

if TYPE_CHECKING:  # llama-cpp-python is an optional extra
    from llama_cpp import Llama

# Prompt tokens evaluated between two looks at the cancel event: a client that went away frees the
# decode thread within one chunk, not after its whole prompt, which every request queued behind it
# would wait for. Larger chunks gain little on a CPU; llama.cpp's n_batch caps it.
PREFILL_CHUNK = 128
# A cancelled request reads on in chunks this small while no other request waits for the model: a
# keystroke's next request starts after at most one of them.
BACKGROUND_CHUNK = 32


class PromptCache:
    """The KV cache of one loaded model, across its requests (see the module docstring)."""

    def __init__(self, llm: Llama, snapshot_bytes: int) -> None:
        self.llm = llm
        self.snapshots = KvSnapshots(snapshot_bytes)
        self._prompt_tokens = 0  # of the live sequence: the last prompt (what was decoded comes after)

    def prefill(self, tokens: list[int], cancelled: Callable[[], bool], others_waiting: Callable[[], bool]) -> int:
        """Evaluate ``tokens`` (what is not already in the KV cache) in chunks, until done; return
        how many were evaluated. llama.cpp records each evaluated chunk in ``n_tokens``/
        ``input_ids``, so what a stopped prompt read is reused by the next request. A cancelled
        request reads on in the background until ``others_waiting()``: the next keystroke's prompt
        shares most of it, and a cold prompt (seconds) was otherwise read only a chunk per request
        that got past the debounce, the model idle in between."""
        llm = self.llm
        recurrent = getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False)
        reuse = not recurrent and from_environment(ModelEnvironment).kv_reuse
        if not reuse:  # off: bench/latency's baseline
            llm.reset()  # a recurrent state cannot be cut back to a prefix
            common = 0
        else:
            prompt = np.asarray(tokens, dtype=np.intc)
            common = common_prefix(llm.input_ids[: llm.n_tokens], prompt)
            # the last token is always evaluated again: its logits are the first token's distribution
            common = self.snapshots.switch(llm, prompt, common, min(self._prompt_tokens, llm.n_tokens))
            common = min(common, len(tokens) - 1)
        llm.n_tokens = common
        self._prompt_tokens = len(tokens)
        start = common
        while start < len(tokens):
            background = cancelled()
            if background and (not reuse or others_waiting()):
                break
            step = min(BACKGROUND_CHUNK if background else PREFILL_CHUNK, llm.n_batch)
            llm.eval(tokens[start : start + step])
            start += step
        return min(start, len(tokens)) - common
