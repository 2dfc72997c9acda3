"""The byte-level matchers kept for validation and closing are bounded by memory, not only by
count: distinct large constraints, each validated and closed, leave the process's RSS flat once
the memo's budget is reached, instead of growing by ~20 MB with every one (two matchers of a
150 KB schema). Measured in a child process that uses only the public functions."""

from __future__ import annotations

import json
import subprocess
import sys

SCHEMAS = 12
LATE_GROWTH_MB = 40  # over the second half; ~125 MB when every matcher is kept

CHILD = f"""
import gc, json
from ananke_lsp.constraints import compile_constraints, validate_text
from ananke_lsp.constraints.closing import Closer
from ananke_lsp.api_types import PyConstraintIR


def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


start, growth = rss_mb(), []
for i in range({SCHEMAS}):  # 150 KB schemas: a JSON document of up to 3000 bounded strings
    properties = {{f"p{{i}}_{{j}}": {{"type": "string", "maxLength": j % 50 + 1}} for j in range(3000)}}
    schema = json.dumps({{"properties": properties}})
    compiled = compile_constraints([PyConstraintIR(name=f"s{{i}}", json_schema=schema)])
    assert not validate_text('{{"p', compiled).all_satisfied  # validation's matcher: the check grammar
    closer = Closer(compiled.parts)  # closing's: the enforced grammar (compact JSON), another one
    closer.feed(b'{{"p')
    closer.closing()
    del compiled, closer
    gc.collect()
    growth.append(rss_mb() - start)
print(json.dumps(growth))
"""


def test_large_constraints_leave_memory_flat_once_the_memo_is_full():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    growth = json.loads(done.stdout.strip().splitlines()[-1])
    half = SCHEMAS // 2
    assert growth[-1] - growth[half - 1] < LATE_GROWTH_MB, [round(g) for g in growth]
