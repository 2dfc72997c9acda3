"""One CPU runtime on the default GGUF, in its own process (so load time is cold and peak memory
its own): prints JSON with load time, tokens/s unconstrained and with an llguidance mask, peak RSS,
and whether the constrained text holds. Run by bench/runtimes.py.

    python bench/runtime_worker.py ananke|llama_cpp|transformers
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ananke_lsp.api_types import PyConstraintIR
from ananke_lsp.constraints import compile_constraints, validate_text
from ananke_lsp.engines.model_files import resolve_model_path

TOKENS = 128
RUNS = 3
PROMPT = "<|im_start|>user\nWrite a long story about a robot who learns to paint.<|im_end|>\n<|im_start|>assistant\n"
PROSE = PyConstraintIR(name="prose", regex_patterns=[r"[A-Za-z0-9 ,.;:'!?\n-]*"])


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ananke() -> dict:
    from ananke_lsp.engines.base import EngineRequest
    from ananke_lsp.engines.embedded import EmbeddedEngine

    engine = EmbeddedEngine()
    started = time.perf_counter()
    tokenizer = engine.llg_tokenizer()
    load_ms = (time.perf_counter() - started) * 1000
    compiled = compile_constraints([PROSE], tokenizer)
    request = EngineRequest(prompt=PROMPT, chat=False, max_tokens=TOKENS, temperature=0.0)
    free, masked, ok = [], [], True

    async def run() -> None:
        nonlocal ok
        for _ in range(RUNS):
            r = await engine.generate(request)
            free.append(r.tokens_generated / r.decode_ms * 1000)
            r = await engine.generate(request.model_copy(update={"constraints": [PROSE]}), compiled)
            masked.append(r.tokens_generated / r.decode_ms * 1000)
            ok = ok and validate_text(r.text, compiled).all_satisfied

    asyncio.run(run())
    return {"load_ms": load_ms, "free_tps": max(free), "masked_tps": max(masked), "valid": ok}


def llama_cpp() -> dict:
    """llama.cpp's own generation loop and sampler, unconstrained: the speed to match."""
    import llama_cpp

    started = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(resolve_model_path("smollm2-135m")), n_ctx=4096, n_threads=2, verbose=False)
    load_ms = (time.perf_counter() - started) * 1000
    tokens = llm.tokenize(PROMPT.encode(), special=True)
    rates = []
    for _ in range(RUNS):
        llm.reset()
        llm.eval(tokens)
        started = time.perf_counter()
        for n, _token in enumerate(llm.generate(tokens, top_k=1, temp=0.0, reset=False), start=1):
            if n == TOKENS:
                break
        rates.append(TOKENS / (time.perf_counter() - started))
    return {"load_ms": load_ms, "free_tps": max(rates), "masked_tps": None, "valid": None}


def transformers_runtime() -> dict:
    import llguidance.hf
    import numpy as np
    import torch
    from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ananke_lsp.engines.sampling import allowed_tokens

    path = resolve_model_path("smollm2-135m")
    started = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    model.eval()
    load_ms = (time.perf_counter() - started) * 1000
    lltok = llguidance.hf.from_tokenizer(tok)
    compiled = compile_constraints([PROSE], lltok)
    torch.set_num_threads(2)
    ids = tok(PROMPT, return_tensors="pt").input_ids
    n_vocab = model.config.vocab_size

    def decode(constrained: bool) -> tuple[float, str]:
        matchers = compiled.matchers(lltok)[0] if constrained else []
        bitmask = allocate_token_bitmask(1, lltok.vocab_size)
        out = []
        with torch.no_grad():
            result = model(ids, use_cache=True)
            past, logits = result.past_key_values, result.logits[0, -1]
            started = time.perf_counter()
            for _ in range(TOKENS):
                scores = logits.numpy().astype(np.float32)
                if matchers:
                    fill_next_token_bitmask(matchers[0], bitmask, 0)
                    scores[~allowed_tokens(bitmask, n_vocab)] = -np.inf
                token = int(np.argmax(scores))
                if matchers:
                    matchers[0].consume_token(token)
                out.append(token)
                result = model(torch.tensor([[token]]), past_key_values=past, use_cache=True)
                past, logits = result.past_key_values, result.logits[0, -1]
        return TOKENS / (time.perf_counter() - started), tok.decode(out)

    free = max(decode(False)[0] for _ in range(RUNS))
    masked_runs = [decode(True) for _ in range(RUNS)]
    valid = all(validate_text(text, compiled).all_satisfied for _, text in masked_runs)
    return {"load_ms": load_ms, "free_tps": free, "masked_tps": max(r for r, _ in masked_runs), "valid": valid}


if __name__ == "__main__":
    runtime = {"ananke": ananke, "llama_cpp": llama_cpp, "transformers": transformers_runtime}[sys.argv[1]]
    figures = runtime()
    figures["peak_rss_mb"] = _rss_mb()
    print(json.dumps(figures))
