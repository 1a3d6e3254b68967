"""The packaged MiniLM embedder: offline loading, semantics, caching, thread safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from media.embedding import EmbedderLoadError, TextEmbedder, get_text_embedder


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return get_text_embedder()


def test_shape_dtype_and_unit_norm(embedder: TextEmbedder) -> None:
    v = embedder.embed(["a red bicycle", "the northern lights over a lake"])
    assert embedder.dim == 384
    assert v.shape == (2, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_similar_texts_are_closer_than_unrelated(embedder: TextEmbedder) -> None:
    cat, kitten, stocks = embedder.embed(
        ["a cat sleeping on a sofa", "a kitten napping on a couch", "stock market prices fell sharply today"]
    )
    assert cat @ kitten > cat @ stocks + 0.3
    assert cat @ kitten > kitten @ stocks + 0.3


def test_padding_in_a_batch_does_not_change_an_embedding(embedder: TextEmbedder) -> None:
    """Mean pooling must respect the attention mask: a short text padded in a batch keeps its vector."""
    alone = embedder._encode(["sunset"])[0]
    batched = embedder._encode(["sunset", "a very long description of a busy harbour at dawn with many boats"])[0]
    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_cache_avoids_recomputation_and_is_bounded(embedder: TextEmbedder, monkeypatch) -> None:
    calls: list[list[str]] = []
    real = embedder._encode

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return real(texts)

    monkeypatch.setattr(embedder, "_encode", counting)
    monkeypatch.setattr(embedder, "_cache_size", 3)
    embedder._cache.clear()
    first = embedder.embed(["p1", "p2", "p1"])
    assert calls == [["p1", "p2"]]
    np.testing.assert_array_equal(first[0], first[2])
    again = embedder.embed(["p2", "p1"])
    assert len(calls) == 1  # served from the cache
    np.testing.assert_array_equal(again[0], first[1])
    embedder.embed(["p2"])  # p1 is now the least recently used...
    embedder.embed(["p3", "p4"])  # ...so it is the one evicted
    assert len(embedder._cache) == 3 and "p1" not in embedder._cache
    embedder.embed(["p1"])
    assert calls[-1] == ["p1"]


def test_singleton() -> None:
    assert get_text_embedder() is get_text_embedder()


def test_threads_get_the_same_answers(embedder: TextEmbedder) -> None:
    texts = [f"a scene number {i} with dragons" for i in range(12)]
    embedder._cache.clear()
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = embedder.embed(texts[i % 3 :: 3] + texts)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    serial = embedder._encode(texts)
    for got in results.values():
        np.testing.assert_allclose(got[-12:], serial, atol=1e-5)


def test_missing_model_folder_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(EmbedderLoadError, match=str(tmp_path)):
        TextEmbedder(model_path=str(tmp_path))
