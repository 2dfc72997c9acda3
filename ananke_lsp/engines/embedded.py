"""The embedded engine: a GGUF model on the CPU through llama.cpp, with llguidance masks on
every token. Decoding runs on one worker thread per model, so the event loop never blocks."""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import ctypes
import functools
import io
import logging
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import llguidance as llg
import numpy as np

from ..constraints import CompiledConstraints
from ..constraints.closing import Closer
from ..errors import EngineError, PromptTooLongError
from .base import EngineHealth, EngineRequest, EngineResult, FinishReason, collect
from .fim import FimTokens, fim_prompt, fim_tokens
from .line_stops import finished, line_cut, settled
from .model_files import resolve_model_path, why_this_model
from .prompt_cache import PromptCache
from .sampling import TokenGate, sample
from .stops import StopScanner

_Emit = Callable[[object], None]
log = logging.getLogger("ananke_lsp.llama_cpp")
_GGML_LOG_WARN, _GGML_LOG_ERROR = 3, 4  # ggml.h ggml_log_level (llama-cpp-python's own table is older)


@dataclass
class LoadedModel:
    """A model loaded once per process, with its llguidance tokenizer and decode thread."""

    path: Path
    llm: object  # llama_cpp.Llama
    tokenizer: object  # llguidance.LLTokenizer
    n_vocab: int
    n_ctx: int
    stop_ids: frozenset[int]
    load_ms: float
    chat_format: Callable[[str, str], str] | None
    fim: FimTokens | None
    executor: ThreadPoolExecutor  # the one thread that loaded the model and runs all its compute
    document_start: int  # what an empty prompt evaluates: the model continues from a document's start
    cache: PromptCache  # what of a prompt is already in the KV cache
    tokens_decoded: int = 0  # over the process lifetime; shows when decoding really stops

    @property
    def name(self) -> str:
        return self.path.stem


_MODELS: dict[tuple[str, int], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()
# Near the end of max_tokens a constrained output is finished rather than cut: from this many
# tokens left the engine looks for a closing, and emits it once fewer than its length plus
# the margin remain (one sampled token can make the closing longer).
CLOSING_WINDOW = 32
CLOSING_MARGIN = 2
# KV states of the prompts of recently left files (kv_snapshots.py): a few files' worth for the
# 1.5B (~28 KB a token), more for the 0.5B.
KV_SNAPSHOT_BYTES = 256 << 20


def _chat_formatter(llm: object) -> Callable[[str, str], str] | None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    metadata: dict[str, str] = getattr(llm, "metadata", {}) or {}
    template = metadata.get("tokenizer.chat_template")
    if not template:
        return None
    formatter = Jinja2ChatFormatter(template=template, eos_token="", bos_token="", add_generation_prompt=True)

    def render(system: str, user: str) -> str:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return formatter(messages=messages).prompt

    return render


def load_model(model: str | None = None, n_ctx: int = 4096) -> LoadedModel:
    """Load (once per process) the GGUF at ``model``, or the offline default."""
    path = resolve_model_path(model)
    key = (str(path.resolve()), n_ctx)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        try:
            import llama_cpp
            from llguidance.llamacpp import lltokenizer_from_vocab
        except ImportError as exc:
            raise EngineError(
                f"the embedded engine needs llama-cpp-python ({exc}): pip install 'ananke-lsp[embedded]'"
            ) from None
        # Loaded on the thread that will decode: llama.cpp's OpenMP team belongs to the thread
        # that starts it, and loading already starts one (AMX repacks the weights in parallel). A
        # second team from another thread oversubscribes the cores, libgomp stops spinning, and
        # decoding fell from 180 to 24 tok/s here.
        executor = ThreadPoolExecutor(1, "ananke-decode")
        start = time.perf_counter()
        # verbose=True: with False, llama-cpp-python points the process's fds 1 and 2 at
        # /dev/null while it loads, and every LSP answer written to stdout meanwhile was lost
        # (the editor waited forever). Its chatter goes to the debug log instead.
        _route_llama_logs(llama_cpp)
        with contextlib.redirect_stderr(io.StringIO()) as chatter:
            llm = executor.submit(
                llama_cpp.Llama,
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=os.cpu_count() or 1,
                logits_all=False,
                verbose=True,
            ).result()
        log.debug("llama-cpp-python loading %s: %s", path.name, chatter.getvalue())
        load_ms = (time.perf_counter() - start) * 1000
        # Freed while the interpreter is whole: left to Llama.__del__ at shutdown, it calls into a
        # half torn-down llama_cpp module and prints a traceback after every run.
        atexit.register(llm.close)
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        stop_ids = frozenset(t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t))
        with warnings.catch_warnings():  # llguidance's glue calls a llama.cpp API deprecated 49k times
            warnings.simplefilter("ignore", DeprecationWarning)
            tokenizer = lltokenizer_from_vocab(vocab, eos_token=sorted(stop_ids))
        loaded = LoadedModel(
            path,
            llm,
            tokenizer,
            n_vocab,
            n_ctx,
            stop_ids,
            load_ms,
            _chat_formatter(llm),
            fim_tokens(vocab),
            executor,
            document_start=_document_start(llm),
            cache=PromptCache(llm, KV_SNAPSHOT_BYTES),
        )
        _MODELS[key] = loaded
        return loaded


@functools.cache
def _route_llama_logs(llama_cpp: object) -> object:
    """llama.cpp's warnings and errors to our log (not to stderr); its info and debug lines,
    thousands per model load and more per batch, are dropped. Installed once; the callback is
    returned so that the cache keeps it alive as long as llama.cpp may call it."""

    @llama_cpp.llama_log_callback  # type: ignore[attr-defined]
    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if level in (_GGML_LOG_WARN, _GGML_LOG_ERROR):
            log.warning("llama.cpp: %s", text.decode("utf-8", "replace").rstrip("\n"))

    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))  # type: ignore[attr-defined]
    return forward


class EmbeddedEngine:
    """In-process CPU engine. ``model`` is a path to a GGUF file, or None for the default."""

    name = "embedded"

    def __init__(self, model: str | None = None, n_ctx: int = 4096) -> None:
        self._model_arg = model
        self._n_ctx = n_ctx
        resolve_model_path(model)  # fail now, with the fix, if the file is missing

    def loaded(self) -> LoadedModel:
        return load_model(self._model_arg, self._n_ctx)

    @property
    def model(self) -> str:
        return resolve_model_path(self._model_arg).stem

    def llg_tokenizer(self) -> object:
        """The model's llguidance tokenizer: constraints compiled with it are checked and turned
        into this model's matchers in one pass."""
        return self.loaded().tokenizer

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in this model's vocabulary (for fitting prompts into a budget)."""
        return len(self.loaded().llm.tokenize(text.encode(), add_bos=False, special=False))  # type: ignore[attr-defined]

    async def generate(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineResult:
        return await collect(self.stream(request, compiled))

    async def stream(
        self, request: EngineRequest, compiled: CompiledConstraints | None = None
    ) -> AsyncIterator[str | EngineResult]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancel = threading.Event()
        loaded = await asyncio.to_thread(self.loaded)

        def emit(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                emit(_decode(loaded, request, compiled, cancel, emit))
            except BaseException as exc:  # delivered to the awaiting side, never lost
                emit(exc)

        loop.run_in_executor(loaded.executor, work)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
                if isinstance(item, EngineResult):
                    return
        finally:
            cancel.set()  # the decode loop checks this before every token

    async def health(self) -> EngineHealth:
        try:
            loaded = await asyncio.to_thread(self.loaded)
        except RuntimeError as exc:
            return EngineHealth(ok=False, engine=self.name, model=str(self._model_arg or "default"), detail=str(exc))
        return EngineHealth(
            ok=True,
            engine=self.name,
            model=loaded.name,
            detail=f"loaded in {loaded.load_ms:.0f} ms; {why_this_model(self._model_arg)}",
            tokens_decoded=loaded.tokens_decoded,
        )


def _document_start(llm: object) -> int:
    """The token a document follows in training: ``<|endoftext|>`` where the vocabulary has it as
    one token (Qwen's BOS is that token; SmolLM2's BOS is a chat turn's ``<|im_start|>``), else
    the BOS, else the EOS."""
    separator = llm.tokenize(b"<|endoftext|>", add_bos=False, special=True)  # type: ignore[attr-defined]
    if len(separator) == 1:
        return int(separator[0])
    bos = int(llm.token_bos())  # type: ignore[attr-defined]
    return bos if bos >= 0 else int(llm.token_eos())  # type: ignore[attr-defined]


def _prompt_tokens(loaded: LoadedModel, request: EngineRequest) -> list[int]:
    """The prompt's tokens, never none: an empty prompt (an empty document, a cursor at 0:0) is
    the document-start token, so evaluating it yields this request's logits and no other's."""
    tokens = _fim_prompt(loaded, request)
    if tokens is None:
        text = _prompt_text(loaded, request)
        tokens = loaded.llm.tokenize(text.encode(), add_bos=True, special=True)  # type: ignore[attr-defined]
    if len(tokens) >= loaded.n_ctx:
        raise PromptTooLongError(
            f"prompt is {len(tokens)} tokens; the model context holds {loaded.n_ctx} (prompt and completion "
            "together): send a shorter prompt"
        )
    return tokens or [loaded.document_start]


def _fim_prompt(loaded: LoadedModel, request: EngineRequest) -> list[int] | None:
    """A code request with the text after the cursor, for a model that knows FIM; else None."""
    if request.chat or request.suffix is None or loaded.fim is None:
        return None
    ctx = request.context

    def plain(text: str) -> list[int]:
        return loaded.llm.tokenize(text.encode(), add_bos=False, special=False)  # type: ignore[attr-defined]

    root = Path(ctx.project_root) if ctx and ctx.project_root else None
    path = Path(ctx.current_file) if ctx and ctx.current_file else None
    shown = str(path.relative_to(root)) if root and path and path.is_relative_to(root) else (path and path.name)
    files = request.files
    return fim_prompt(
        loaded.fim,
        plain,
        request.prompt,
        request.suffix,
        files=files,
        path=shown,
        repo=root.name if root else "",
    )


def _prompt_text(loaded: LoadedModel, request: EngineRequest) -> str:
    if request.chat and loaded.chat_format is not None:
        return loaded.chat_format(request.system_prompt(), request.prompt)
    return request.prompt


def _decode(
    loaded: LoadedModel,
    request: EngineRequest,
    compiled: CompiledConstraints | None,
    cancel: threading.Event,
    emit: _Emit,
) -> EngineResult:
    import llama_cpp

    matchers, compile_ms = compiled.matchers(loaded.tokenizer) if compiled else ([], 0.0)  # type: ignore[arg-type]
    gate = None
    if matchers and compiled:
        mid_document = frozenset(row for row, part in enumerate(compiled.parts) if part.prefix)
        line_end = loaded.tokenizer.tokenize_str("\n") if mid_document else None  # type: ignore[attr-defined]
        gate = TokenGate(matchers, loaded.n_vocab, loaded.stop_ids, line_end, mid_document)
    llm = loaded.llm
    started = time.perf_counter()
    prompt = _prompt_tokens(loaded, request)
    max_tokens = min(request.max_tokens, loaded.n_ctx - len(prompt))
    prefilled = loaded.cache.prefill(prompt, cancel.is_set)  # cancelled part-way, the loop below stops first
    prefill_ms = (time.perf_counter() - started) * 1000

    decode_start = time.perf_counter()
    budget = request.max_predict_ms / 1000 if request.max_predict_ms else float("inf")
    rng = np.random.default_rng(request.seed)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    stops = StopScanner(request.stop)
    text = ""
    sent = 0
    cut: int | None = None
    generated = 0
    finish: FinishReason = "length"
    closer = Closer(compiled.parts) if matchers and compiled else None
    check_at = CLOSING_WINDOW  # remaining budget at which to look for a closing next
    closing: list[int] = []
    while generated < max_tokens:
        if cancel.is_set():
            finish = "cancelled"
            break
        remaining = max_tokens - generated
        if closer is not None and remaining <= check_at:
            found = _closing(loaded, closer, matchers)
            if found is None:
                closer = None  # no closing within the search bounds: sample to the end
            elif len(found) + CLOSING_MARGIN >= remaining:
                if len(found) <= remaining:
                    closing = found
                    break
                closer = None  # it no longer fits: the caller gets the honest truncation
            else:
                check_at = len(found) + CLOSING_MARGIN + 3
        # llama.cpp's own logits buffer: masked in place, it is overwritten by the next eval
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(loaded.n_vocab,))  # type: ignore[attr-defined]
        sampler = sample if gate is None else gate.next_token
        token = sampler(logits, request.temperature, request.top_p, rng)
        if token is None:
            finish = "constraint_conflict"  # the constraints leave no token
            break
        if token in loaded.stop_ids:
            finish = "stop"
            break
        for matcher in matchers:
            if not matcher.consume_token(token):
                raise EngineError(f"llguidance rejected a token its own mask allowed: {matcher.get_error()}")
        generated += 1
        loaded.tokens_decoded += 1
        piece = loaded.tokenizer.decode_bytes([token])  # type: ignore[attr-defined]
        if closer is not None:
            closer.feed(piece)
        new = decoder.decode(piece)
        text += new
        safe, cut = stops.feed(new)
        if cut is not None:
            text = text[:cut]
        if request.line_stops is not None:  # a line that ends the suggestion: stop decoding here
            line = line_cut(text, request.line_stops, final=False)
            text, cut = (text, cut) if line is None else (text[:line], line)
            safe = min(safe, settled(text))
        if safe > sent:
            emit(text[sent:safe])
            sent = safe
        if cut is not None:
            finish = "stop"
            break
        if matchers and all(m.is_stopped() for m in matchers):
            finish = "stop"  # the constraints admit nothing more
            break
        if text.endswith("\n") and time.perf_counter() - decode_start > budget:
            finish = "time"  # out of time at a line's end: whole lines, never half of one
            break
        llm.eval([token])  # type: ignore[attr-defined]
    for token in closing:  # validated against every matcher by _closing
        for matcher in matchers:
            matcher.consume_token(token)
        text += decoder.decode(loaded.tokenizer.decode_bytes([token]))  # type: ignore[attr-defined]
    generated += len(closing)
    # The bytes of a character cut off by the budget or a cancel are left in the decoder: the rest
    # of it was never generated, and flushing them would put U+FFFD into the user's code.
    if request.line_stops is not None:
        text = finished(text, request.line_stops)
    if len(text) > sent:
        emit(text[sent:])
    return EngineResult(
        text=text,
        finish_reason=finish,
        tokens_generated=generated,
        prompt_tokens=len(prompt),
        prefilled_tokens=prefilled,
        prefill_ms=prefill_ms,
        decode_ms=(time.perf_counter() - decode_start) * 1000,
        compile_ms=compile_ms,
        mask_us_total=gate.enforce_us if gate is not None else 0.0,
        model=loaded.name,
        engine=EmbeddedEngine.name,
        enforced=sorted({p.constraint for p in compiled.parts}) if compiled else [],
        closing_tokens=len(closing),
    )


def _closing(loaded: LoadedModel, closer: Closer, matchers: list[llg.LLMatcher]) -> list[int] | None:
    """The model's tokens for the shortest closing found, checked against every matcher;
    None when there is none to offer."""
    found = closer.closing()
    if found is None:
        return None
    tokens: list[int] = loaded.llm.tokenize(found, add_bos=False, special=False) if found else []  # type: ignore[attr-defined]
    if any(m.validate_tokens(tokens) < len(tokens) for m in matchers):
        return None
    return tokens
