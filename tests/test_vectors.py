"""The usearch vector index: search, atomic saves and reconciling."""

from __future__ import annotations

import numpy as np

from lookalike.core.clip import normalise
from lookalike.core.vectors import VectorIndex


def vectors(count: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return normalise(np.random.default_rng(seed).standard_normal((count, dim)))


def test_search_finds_the_nearest_first(tmp_path):
    index = VectorIndex(tmp_path / "m.usearch", 8)
    data = vectors(50)
    index.add(np.arange(1, 51, dtype=np.uint64), data)
    keys, scores = index.search(data[9], 5)
    assert keys[0] == 10 and abs(scores[0] - 1.0) < 1e-3
    assert list(scores) == sorted(scores, reverse=True)


def test_adding_a_key_again_replaces_its_vector(tmp_path):
    index = VectorIndex(tmp_path / "m.usearch", 8)
    first, second = vectors(2)
    index.add(np.array([7], np.uint64), first[None])
    index.add(np.array([7], np.uint64), second[None])
    assert len(index) == 1
    keys, scores = index.search(second, 1)
    assert keys[0] == 7 and scores[0] > 0.999


def test_save_replaces_the_file_whole_and_loads_back(tmp_path):
    path = tmp_path / "m.usearch"
    index = VectorIndex(path, 8)
    index.add(np.arange(1, 21, dtype=np.uint64), vectors(20))
    index.save()
    assert not index.dirty
    assert [p.name for p in tmp_path.iterdir()] == ["m.usearch"]  # no temporary left
    again = VectorIndex(path, 8)
    assert sorted(again.keys().tolist()) == list(range(1, 21))


def test_a_damaged_or_mismatched_file_starts_empty(tmp_path):
    path = tmp_path / "m.usearch"
    index = VectorIndex(path, 8)
    index.add(np.arange(1, 5, dtype=np.uint64), vectors(4))
    index.save()
    assert len(VectorIndex(path, 16)) == 0  # another model's size
    path.write_bytes(path.read_bytes()[:64])
    assert len(VectorIndex(path, 8)) == 0


def test_reconcile_adds_what_is_missing_and_drops_what_is_gone(tmp_path):
    data = {i: v for i, v in zip(range(1, 11), vectors(10), strict=True)}
    index = VectorIndex(tmp_path / "m.usearch", 8)
    index.add(np.array([1, 2, 3, 99], np.uint64), np.stack([data[1], data[2], data[3], data[1]]))

    def source(ids: list[int]):
        yield np.array(ids, np.uint64), np.stack([data[i] for i in ids])

    added, removed = index.reconcile(np.arange(1, 11, dtype=np.uint64), source)
    assert (added, removed) == (7, 1)
    assert sorted(index.keys().tolist()) == list(range(1, 11))
    assert index.reconcile(np.arange(1, 11, dtype=np.uint64), source) == (0, 0)


def test_a_loaded_index_keeps_the_search_settings(tmp_path):
    from lookalike.core.vectors import CONNECTIVITY, EXPANSION_SEARCH

    index = VectorIndex(tmp_path / "m.usearch", 8)
    index.add(np.arange(1, 41, dtype=np.uint64), vectors(40))
    index.save()
    again = VectorIndex(tmp_path / "m.usearch", 8)
    assert again.index.expansion_search == EXPANSION_SEARCH
    assert again.index.connectivity == CONNECTIVITY
    assert len(again) == 40
