"""The embedded engine: a GGUF model on the CPU through llama.cpp, with llguidance masks on
every token. Decoding runs on one worker thread per model, so the event loop never blocks."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import functools
import io
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import llguidance as llg
import numpy as np
from numpy.typing import NDArray

from ..constraints import CompiledConstraints
from ..errors import EngineError, PromptTooLongError
from .base import EngineHealth, EngineRequest, EngineResult, EngineStream, FinishReason, collect
from .decoding import ClosingSearch, OutputText
from .fim import FimPrompt, FimTokens, fim_tokens, typed_fim_prompt
from .healing import HEALED_TOKENS, Healing, Spellings
from .model_files import resolve_model_path, why_this_model
from .prompt_cache import PromptCache
from .sampling import TokenGate, sample

if TYPE_CHECKING:  # llama-cpp-python is an optional extra: imported where a model is loaded
    from llama_cpp import Llama
    from llama_cpp.llama_types import ChatCompletionRequestMessage

_Item = str | EngineResult | BaseException  # what the decode thread hands the event loop
log = logging.getLogger("ananke_lsp.llama_cpp")
_GGML_LOG_WARN, _GGML_LOG_ERROR = 3, 4  # ggml.h ggml_log_level (llama-cpp-python's own table is older)


class _Queued:
    """How many requests wait for a model's decode thread (added on the event loop, taken on the
    thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = 0

    def add(self, n: int) -> None:
        with self._lock:
            self._n += n

    def waiting(self) -> bool:
        return self._n > 0


@dataclass
class LoadedModel:
    """A model loaded once per process, with its llguidance tokenizer and decode thread."""

    path: Path
    llm: Llama
    tokenizer: llg.LLTokenizer
    n_vocab: int
    n_ctx: int
    stop_ids: frozenset[int]
    load_ms: float
    chat_format: Callable[[str, str], str] | None
    fim: FimTokens | None
    executor: ThreadPoolExecutor  # the one thread that loaded the model and runs all its compute
    document_start: int  # what an empty prompt evaluates: the model continues from a document's start
    cache: PromptCache  # what of a prompt is already in the KV cache
    queued: _Queued = field(default_factory=_Queued)  # requests waiting for the decode thread
    tokens_decoded: int = 0  # over the process lifetime; shows when decoding really stops

    @property
    def name(self) -> str:
        return self.path.stem

    @functools.cached_property
    def spellings(self) -> Spellings:
        """The vocabulary by token bytes, for token healing; the end-of-generation tokens spell
        nothing. Built at the first healed prompt (151k tokens: about half a second)."""
        return Spellings(
            b"" if t in self.stop_ids else self.llm.detokenize([t], special=False) for t in range(self.n_vocab)
        )

    def plain_tokens(self, text: bytes) -> list[int]:
        """``text``'s tokens, special tokens spelled in it read as text."""
        return self.llm.tokenize(text, add_bos=False, special=False)

    def logits(self) -> NDArray[np.float32]:
        """The next token's logits: llama.cpp's own buffer, masked in place and overwritten by the
        next eval."""
        import llama_cpp

        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm.ctx, -1), shape=(self.n_vocab,))


_MODELS: dict[tuple[str, int], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()
# KV states of the prompts of recently left files (kv_snapshots.py): a few files' worth for the
# 1.5B (~28 KB a token), more for the 0.5B.
KV_SNAPSHOT_BYTES = 256 << 20


def _chat_formatter(llm: Llama) -> Callable[[str, str], str] | None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    formatter = Jinja2ChatFormatter(template=template, eos_token="", bos_token="", add_generation_prompt=True)

    def render(system: str, user: str) -> str:
        messages: list[ChatCompletionRequestMessage] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
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
        # decoding slows down many times over.
        executor = ThreadPoolExecutor(1, "ananke-decode")
        start = time.perf_counter()
        # verbose=True: with False, llama-cpp-python points the process's fds 1 and 2 at
        # /dev/null while it loads, and every LSP answer written to stdout meanwhile was lost
        # (the editor waited forever). Its chatter goes to the debug log instead.
        _route_llama_logs()
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
def _route_llama_logs() -> object:
    """llama.cpp's warnings and errors to our log (not to stderr); its info and debug lines,
    thousands per model load and more per batch, are dropped. Installed once; the callback is
    returned so that the cache keeps it alive as long as llama.cpp may call it."""
    import llama_cpp

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if level in (_GGML_LOG_WARN, _GGML_LOG_ERROR):
            log.warning("llama.cpp: %s", text.decode("utf-8", "replace").rstrip("\n"))

    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))
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

    def llg_tokenizer(self) -> llg.LLTokenizer:
        """The model's llguidance tokenizer: constraints compiled with it are checked and turned
        into this model's matchers in one pass."""
        return self.loaded().tokenizer

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in this model's vocabulary (for fitting prompts into a budget)."""
        return len(self.loaded().plain_tokens(text.encode()))

    def token_counter(self) -> Callable[[str], int]:
        return self.count_tokens

    async def generate(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineResult:
        return await collect(self.stream(request, compiled))

    async def stream(self, request: EngineRequest, compiled: CompiledConstraints | None = None) -> EngineStream:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        cancel = threading.Event()
        loaded = await asyncio.to_thread(self.loaded)

        def emit(item: _Item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            loaded.queued.add(-1)
            try:
                emit(_decode(loaded, request, compiled, cancel, emit))
            except BaseException as exc:  # delivered to the awaiting side, never lost
                emit(exc)

        loaded.queued.add(1)
        loop.run_in_executor(loaded.executor, work)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
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


def _document_start(llm: Llama) -> int:
    """The token a document follows in training: ``<|endoftext|>`` where the vocabulary has it as
    one token (Qwen's BOS is that token; SmolLM2's BOS is a chat turn's ``<|im_start|>``), else
    the BOS, else the EOS."""
    separator = llm.tokenize(b"<|endoftext|>", add_bos=False, special=True)
    if len(separator) == 1:
        return int(separator[0])
    bos = int(llm.token_bos())
    return bos if bos >= 0 else int(llm.token_eos())


def _prompt(loaded: LoadedModel, request: EngineRequest) -> FimPrompt:
    """The prompt's tokens, never none: an empty prompt (an empty document, a cursor at 0:0) is
    the document-start token, so evaluating it yields this request's logits and no other's."""
    prompt = _fim_prompt(loaded, request)
    if prompt is None:
        text = _prompt_text(loaded, request)
        prompt = FimPrompt(loaded.llm.tokenize(text.encode(), add_bos=True, special=True), b"")
    if len(prompt.tokens) >= loaded.n_ctx:
        raise PromptTooLongError(
            f"prompt is {len(prompt.tokens)} tokens; the model context holds {loaded.n_ctx} (prompt and "
            "completion together): send a shorter prompt"
        )
    return prompt if prompt.tokens else FimPrompt([loaded.document_start], b"")


def _fim_prompt(loaded: LoadedModel, request: EngineRequest) -> FimPrompt | None:
    """A code request with the text after the cursor, for a model that knows FIM; else None."""
    if request.chat or request.suffix is None or loaded.fim is None:
        return None
    ctx = request.context
    root = Path(ctx.project_root) if ctx and ctx.project_root else None
    path = Path(ctx.current_file) if ctx and ctx.current_file else None
    shown = path.name if path else None
    if root and path and path.is_relative_to(root):
        shown = str(path.relative_to(root))
    files = request.files
    return typed_fim_prompt(
        loaded.fim,
        lambda text: loaded.plain_tokens(text.encode()),
        loaded.tokenizer.decode_bytes,
        request.prompt,
        request.suffix,
        heal=HEALED_TOKENS,
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
    emit: Callable[[str], None],
) -> EngineResult:
    matchers, compile_ms = compiled.matchers(loaded.tokenizer) if compiled else ([], 0.0)
    gate = _token_gate(loaded, compiled, matchers)
    started = time.perf_counter()
    prompt = _prompt(loaded, request)
    max_tokens = min(request.max_tokens, loaded.n_ctx - len(prompt.tokens))
    # cancelled, it reads on while no other request waits; the loop below then stops first
    prefilled = loaded.cache.prefill(prompt.tokens, cancel.is_set, loaded.queued.waiting)
    prefill_ms = (time.perf_counter() - started) * 1000
    decoding = _Decoding(
        loaded,
        request,
        matchers,
        gate,
        max_tokens,
        OutputText(request, emit),
        ClosingSearch(compiled, matchers, loaded.plain_tokens),
        Healing(loaded.spellings, loaded.plain_tokens, prompt.healed) if prompt.healed else None,
    )
    finish = decoding.run(cancel)
    decode_ms = (time.perf_counter() - decoding.started) * 1000
    log.debug(
        "%d prompt tokens, %d read in %.0f ms; %d tokens decoded in %.0f ms (%s)",
        len(prompt.tokens),
        prefilled,
        prefill_ms,
        decoding.generated,
        decode_ms,
        finish,
    )
    return EngineResult(
        text=decoding.output.finish(),
        finish_reason=finish,
        tokens_generated=decoding.generated,
        prompt_tokens=len(prompt.tokens),
        prefilled_tokens=prefilled,
        prefill_ms=prefill_ms,
        decode_ms=decode_ms,
        compile_ms=compile_ms,
        mask_us_total=gate.enforce_us if gate is not None else 0.0,
        model=loaded.name,
        engine=EmbeddedEngine.name,
        enforced=sorted({p.constraint for p in compiled.parts}) if compiled else [],
        closing_tokens=decoding.closing_tokens,
    )


def _token_gate(
    loaded: LoadedModel, compiled: CompiledConstraints | None, matchers: list[llg.LLMatcher]
) -> TokenGate | None:
    """The gate every sampled token passes; None for an unconstrained request."""
    if not (matchers and compiled):
        return None
    mid_document = frozenset(row for row, part in enumerate(compiled.parts) if part.prefix)
    line_end = loaded.tokenizer.tokenize_str("\n") if mid_document else None
    return TokenGate(matchers, loaded.n_vocab, loaded.stop_ids, line_end, mid_document)


@dataclass
class _Decoding:
    """One request's decode loop, after its prompt is in the KV cache: one token at a time until
    it ends, and how far it got."""

    loaded: LoadedModel
    request: EngineRequest
    matchers: list[llg.LLMatcher]
    gate: TokenGate | None  # None: unconstrained
    max_tokens: int  # the request's, where the context has room for them
    output: OutputText
    closing: ClosingSearch
    healing: Healing | None  # typed text taken off the prompt, for the model to spell first
    rng: np.random.Generator = field(init=False)
    time_budget_s: float = field(init=False)  # of decoding, checked at line ends
    started: float = field(default_factory=time.perf_counter)
    generated: int = 0  # sampled and placed tokens
    closing_tokens: int = 0  # of those, placed by the closing search

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.request.seed)
        ms = self.request.max_predict_ms
        self.time_budget_s = ms / 1000 if ms else float("inf")

    def run(self, cancel: threading.Event) -> FinishReason:
        """Sample, place a closing, or stop; returns why decoding ended."""
        while self.generated < self.max_tokens:
            if cancel.is_set():
                return "cancelled"
            closing = self.closing.due(self.max_tokens - self.generated)
            if closing is not None:
                self._place(closing)
                return "length"
            if self.healing is not None and self.healing.rest:
                token, piece = self._heal()
            else:
                sampler = sample if self.gate is None else self.gate.next_token
                sampled = sampler(self.loaded.logits(), self.request.temperature, self.request.top_p, self.rng)
                if sampled is None:
                    return "constraint_conflict"  # the constraints leave no token
                if sampled in self.loaded.stop_ids:
                    return "stop"
                token, piece = sampled, self._take(sampled)
            if piece and self.output.add(piece):
                return "stop"  # a stop string or a line stop
            if self.matchers and all(m.is_stopped() for m in self.matchers):
                return "stop"  # the constraints admit nothing more
            if self.output.text.endswith("\n") and time.perf_counter() - self.started > self.time_budget_s:
                return "time"  # out of time at a line's end: whole lines, never half of one
            self.loaded.llm.eval([token])
        return "length"

    def _take(self, token: int) -> bytes:
        """Advance every matcher by a sampled token, and count it; returns its bytes."""
        return self._advance([token], self.loaded.tokenizer.decode_bytes([token]))

    def _heal(self) -> tuple[int, bytes]:
        """A token that spells on the healed text; returns it and its bytes past that text, by
        which every matcher is advanced (in this model's tokens of those bytes)."""
        assert self.healing is not None
        token, past = self.healing.next_token(
            self.loaded.logits(), self.request.temperature, self.request.top_p, self.rng, self._accepts
        )
        return token, self._advance(self._tokens_of(past) or [], past)

    def _tokens_of(self, text: bytes) -> list[int] | None:
        """The tokens of ``text`` for the matchers; None for bytes that are not whole UTF-8
        characters (a token ending mid-character: its text is not the user's yet)."""
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return self.loaded.plain_tokens(text)

    def _accepts(self, text: bytes) -> bool:
        """Whether every matcher would take ``text`` next."""
        tokens = self._tokens_of(text)
        return tokens is not None and all(m.validate_tokens(tokens) == len(tokens) for m in self.matchers)

    def _advance(self, consumed: list[int], piece: bytes) -> bytes:
        """Count a decoded token, advance every matcher by ``consumed`` (the tokens of its output
        text) and the closing search by ``piece`` (that text); returns ``piece``."""
        for matcher in self.matchers:
            if consumed and not matcher.consume_tokens(consumed):
                raise EngineError(f"llguidance rejected a token its own mask allowed: {matcher.get_error()}")
        self.generated += 1
        self.loaded.tokens_decoded += 1
        if piece:
            self.closing.feed(piece)
        return piece

    def _place(self, closing: list[int]) -> None:
        """Advance every matcher by the closing's tokens, and append them to the text."""
        for token in closing:  # validated against every matcher by the closing search
            for matcher in self.matchers:
                matcher.consume_token(token)
            self.output.place(self.loaded.tokenizer.decode_bytes([token]))
        self.generated += len(closing)
        self.closing_tokens = len(closing)
