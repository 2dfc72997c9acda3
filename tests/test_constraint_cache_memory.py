"""The constraint cache is bounded by memory, not only by entries: distinct large constraints,
each compiled into matchers for the real model and decoded a few steps, leave the process's RSS
near the cache's budget instead of growing with every one. Measured in a child process."""

from __future__ import annotations

import json
import subprocess
import sys

from ananke_lsp.constraints.cache import estimated_bytes

BUDGET_MB = 24
ENTRIES = 24

CHILD = f"""
import gc, json, sys
import llguidance.numpy as lln
import numpy as np
from ananke_lsp.constraints.cache import ConstraintCache
from ananke_lsp.engines.embedded import load_model
from ananke_lsp.api_types import PyConstraintIR


def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


tokenizer = load_model("smollm2-135m").tokenizer
cache = ConstraintCache(max_bytes=int(sys.argv[1]) << 20)
mask = lln.allocate_token_bitmask(1, tokenizer.vocab_size)
start = rss_mb()
for i in range({ENTRIES}):
    rules = "\\n".join(f'r{{j}}: "a{{i}}_{{j}}" /[a-z]+{{j}}/' for j in range(1500))
    grammar = "start: (" + " | ".join(f"r{{j}}" for j in range(1500)) + ")+\\n" + rules
    compiled, _ = cache.get([PyConstraintIR(name=f"c{{i}}", grammar=grammar)], tokenizer)
    (matcher,), _ = compiled.matchers(tokenizer)
    for _ in range(20):  # decoding steps: a mask each, then its last allowed token
        lln.fill_next_token_bitmask(matcher, mask, 0)
        allowed = np.flatnonzero(np.unpackbits(mask.view(np.uint8), bitorder="little")[: tokenizer.vocab_size])
        assert matcher.consume_token(int(allowed[-1]))
    del compiled, matcher
    gc.collect()
print(json.dumps({{"growth_mb": rss_mb() - start, "entries": cache.stats()["size"]}}))
"""


def _growth(budget_mb: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(budget_mb)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_large_constraints_leave_memory_near_the_cache_budget():
    unbounded, bounded = _growth(1 << 20), _growth(BUDGET_MB)
    assert unbounded["entries"] == ENTRIES and bounded["entries"] < ENTRIES
    assert bounded["growth_mb"] < BUDGET_MB + 24, bounded
    assert bounded["growth_mb"] < 0.5 * unbounded["growth_mb"], (bounded, unbounded)


def test_an_entry_weighs_what_its_grammars_hold():
    from ananke_lsp.api_types import PyConstraintIR
    from ananke_lsp.constraints import compile_constraints

    small = compile_constraints([PyConstraintIR(name="s", regex_patterns=["[a-z]+"])])
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(2000)}}
    large = compile_constraints([PyConstraintIR(name="l", json_schema=json.dumps(schema))])
    assert estimated_bytes(large) > 1000 * estimated_bytes(small)
