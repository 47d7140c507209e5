"""Each trajectory against SPEC §2's formula, recomputed here independently of tasks.transitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks import TRAJECTORIES, render
from tasks.transitions import tile_order

FRAME_COUNTS = (2, 3, 9, 10)


def constant_pair(h: int = 4, w: int = 4) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((h, w, 3), np.uint8), np.full((h, w, 3), 200, np.uint8)


def random_pair(h: int = 12, w: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8))


def expected_blend(x: np.ndarray, y: np.ndarray, weight: float) -> np.ndarray:
    value = (1 - weight) * x.astype(np.float64) + weight * y.astype(np.float64)
    return np.clip(np.rint(value), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("trajectory", TRAJECTORIES)
@pytest.mark.parametrize("frames", FRAME_COUNTS)
@pytest.mark.parametrize("make", [constant_pair, random_pair])
def test_endpoints_shape_and_dtype(trajectory: str, frames: int, make) -> None:
    x, y = make()
    video = render(x, y, trajectory, frames=frames, seed=3)
    assert video.shape == (frames, *x.shape)
    assert video.dtype == np.uint8
    np.testing.assert_array_equal(video[0], x)
    np.testing.assert_array_equal(video[-1], y)


@pytest.mark.parametrize("frames", FRAME_COUNTS)
@pytest.mark.parametrize("trajectory, power", [("linear", 1), ("quadratic", 2)])
@pytest.mark.parametrize("make", [constant_pair, random_pair])
def test_blends_follow_formula(trajectory: str, power: int, frames: int, make) -> None:
    x, y = make()
    video = render(x, y, trajectory, frames=frames)
    for f in range(1, frames + 1):
        t = (f - 1) / (frames - 1)
        np.testing.assert_array_equal(video[f - 1], expected_blend(x, y, t**power))


def test_quadratic_constant_values_by_hand() -> None:
    x, y = constant_pair()
    video = render(x, y, "quadratic", frames=9)
    # 200·((f−1)/8)² for f = 1..9, rounded half to even.
    assert [int(frame[0, 0, 0]) for frame in video] == [0, 3, 12, 28, 50, 78, 112, 153, 200]
    linear = render(x, y, "linear", frames=9)
    assert [int(frame[0, 0, 0]) for frame in linear] == [0, 25, 50, 75, 100, 125, 150, 175, 200]


@pytest.mark.parametrize("frames, n_x, n_y", [(2, 1, 1), (3, 1, 2), (9, 4, 5), (10, 5, 5)])
def test_discrete_counts(frames: int, n_x: int, n_y: int) -> None:
    x, y = random_pair()
    video = render(x, y, "discrete", frames=frames)
    assert all(np.array_equal(frame, x) for frame in video[:n_x])
    assert all(np.array_equal(frame, y) for frame in video[n_x:])
    assert len(video[n_x:]) == n_y


def tiles_showing_y(frame: np.ndarray, y: np.ndarray, h: int, w: int) -> list[int]:
    """Row-major indices of the 4×4 rectangles where the frame equals y (x and y differ
    everywhere in the constant pair, so equality means the tile shows y)."""
    rows = [round(v) for v in np.linspace(0, h, 5)]
    cols = [round(v) for v in np.linspace(0, w, 5)]
    shown = []
    for k in range(16):
        r, c = divmod(k, 4)
        block = (slice(rows[r], rows[r + 1]), slice(cols[c], cols[c + 1]))
        if np.array_equal(frame[block], y[block]):
            shown.append(k)
        else:
            assert not np.any(frame[block] == y[block]), "a tile is partly x and partly y"
    return shown


@pytest.mark.parametrize("frames", FRAME_COUNTS)
@pytest.mark.parametrize("h, w", [(4, 4), (13, 22), (64, 48)])
def test_tiles_follow_seeded_order(frames: int, h: int, w: int) -> None:
    x, y = constant_pair(h, w)
    seed = 7
    order = np.random.default_rng(seed).permutation(16)
    video = render(x, y, "tiles", frames=frames, seed=seed)
    for f in range(1, frames + 1):
        count = math.floor((f - 1) / (frames - 1) * 16)
        assert sorted(tiles_showing_y(video[f - 1], y, h, w)) == sorted(order[:count].tolist())


def test_tiles_random_content_composition() -> None:
    x, y = random_pair(16, 16)
    video = render(x, y, "tiles", frames=9, seed=1)
    order = tile_order(1)
    # Frame 2 of 9: t = 1/8, so ⌊2⌋ tiles show y.
    expected = x.copy()
    for k in order[:2]:
        r, c = divmod(int(k), 4)
        expected[4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = y[4 * r : 4 * r + 4, 4 * c : 4 * c + 4]
    np.testing.assert_array_equal(video[1], expected)


def test_tiles_seed_dependence() -> None:
    x, y = random_pair(32, 32)
    same = [render(x, y, "tiles", frames=9, seed=5) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.array_equal(tile_order(0), tile_order(1))
    assert not np.array_equal(same[0], render(x, y, "tiles", frames=9, seed=6))
    np.testing.assert_array_equal(tile_order(5), np.random.default_rng(5).permutation(16))


def test_non_tile_trajectories_ignore_seed() -> None:
    x, y = random_pair()
    for trajectory in ("linear", "quadratic", "discrete"):
        a = render(x, y, trajectory, seed=0)
        np.testing.assert_array_equal(a, render(x, y, trajectory, seed=99))


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"trajectory": "cubic"}, "'cubic'"),
        ({"frames": 1}, "1"),
        ({"frames": 0}, "0"),
        ({"frames": 2.5}, "2.5"),
        ({"seed": -1}, "-1"),
    ],
)
def test_bad_arguments(kwargs: dict, needle: str) -> None:
    x, y = random_pair()
    args = {"trajectory": "linear", **kwargs}
    with pytest.raises(ValueError, match=needle) as info:
        render(x, y, **args)
    assert "\n" not in str(info.value)


def test_unknown_trajectory_lists_allowed() -> None:
    x, y = random_pair()
    with pytest.raises(ValueError) as info:
        render(x, y, "cubic")
    assert (
        str(info.value) == "unknown trajectory 'cubic'; allowed: linear, quadratic, discrete, tiles"
    )


def test_bad_images() -> None:
    x, y = random_pair()
    with pytest.raises(ValueError, match=r"\(12, 10, 3\) and \(12, 11, 3\)"):
        render(x, np.zeros((12, 11, 3), np.uint8), "linear")
    with pytest.raises(ValueError, match="float64"):
        render(x.astype(np.float64), y, "linear")
    with pytest.raises(ValueError, match=r"\(12, 10\)"):
        render(x[..., 0], y, "linear")
    with pytest.raises(ValueError, match=r"\(12, 10, 4\)"):
        render(x, np.zeros((12, 10, 4), np.uint8), "linear")
    with pytest.raises(ValueError, match="3×3"):
        render(x[:3, :3], y[:3, :3], "tiles")
