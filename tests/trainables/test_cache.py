"""The latent cache is content-addressed, counts hits and misses, and stays correct when two
processes fill the same entry at once or an entry is damaged."""

import multiprocessing as mp
import time

import numpy as np
import pytest
import torch

from trainables.cache import TensorCache, content_key


def test_key_depends_on_every_part_and_on_video_bytes():
    video = np.zeros((9, 16, 16, 3), np.uint8)
    other = video.copy()
    other[8, 0, 0, 0] = 1
    base = content_key(kind="example", backbone="cogvideox", weights="w", video=video)
    assert base == content_key(
        weights="w", video=video.copy(), backbone="cogvideox", kind="example"
    )
    assert base != content_key(kind="example", backbone="cogvideox", weights="w", video=other)
    assert base != content_key(kind="example", backbone="ltx", weights="w", video=video)
    assert base != content_key(kind="example", backbone="cogvideox", weights="v", video=video)
    assert base != content_key(
        kind="example", backbone="cogvideox", weights="w", video=video.reshape(9, 8, 32, 3)
    )


def test_second_fetch_is_a_hit_with_the_same_tensors(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"latents": torch.arange(6.0).view(2, 3), "mask": torch.tensor([1, 0])}

    cache = TensorCache(tmp_path)
    first = cache.fetch("ab" * 32, compute)
    again = TensorCache(tmp_path).fetch("ab" * 32, compute)
    assert len(calls) == 1 and (cache.hits, cache.misses) == (0, 1)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert "0 hits, 1 misses" in cache.summary()


def test_without_a_folder_it_computes_every_time():
    cache = TensorCache(None)
    cache.fetch("k" * 64, lambda: {"x": torch.ones(1)})
    cache.fetch("k" * 64, lambda: {"x": torch.ones(1)})
    assert (cache.hits, cache.misses) == (0, 2)


def test_a_damaged_entry_is_recomputed_and_replaced(tmp_path):
    cache = TensorCache(tmp_path)
    key = "cd" * 32
    cache.fetch(key, lambda: {"x": torch.ones(3)})
    (tmp_path / key[:2] / f"{key}.safetensors").write_bytes(b"not safetensors")
    value = cache.fetch(key, lambda: {"x": torch.full((3,), 2.0)})
    assert torch.equal(value["x"], torch.full((3,), 2.0))
    assert torch.equal(TensorCache(tmp_path).fetch(key, lambda: {})["x"], torch.full((3,), 2.0))


def _fill(root, key, barrier, queue):
    def slow():
        barrier.wait()  # both processes compute at the same time
        time.sleep(0.2)
        return {"x": torch.arange(100_000, dtype=torch.float32)}

    cache = TensorCache(root)
    value = cache.fetch(key, slow)
    queue.put((cache.misses, bool(torch.equal(value["x"], torch.arange(100_000.0)))))


def test_two_processes_filling_one_entry_both_end_correct(tmp_path):
    context = mp.get_context("spawn")
    barrier, queue = context.Barrier(2), context.Queue()
    key = "ef" * 32
    workers = [context.Process(target=_fill, args=(tmp_path, key, barrier, queue)) for _ in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    results = [queue.get(timeout=5) for _ in workers]
    assert results == [(1, True), (1, True)]
    stored = TensorCache(tmp_path).fetch(key, lambda: pytest.fail("entry should exist"))
    assert torch.equal(stored["x"], torch.arange(100_000.0))
    assert [p.name for p in (tmp_path / "ef").iterdir()] == [f"{key}.safetensors"]  # no temp left
