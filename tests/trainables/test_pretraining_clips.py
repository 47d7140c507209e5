"""The micro backbone's pretraining clips: camera motion over photographs the tasks never
validate on, and never one of the tasks' transformations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.sources import HELD_OUT_SOURCES, SOURCE_NAMES
from trainables.pretraining_clips import (
    MAX_ROLL_DEG,
    PRETRAINING_SOURCES,
    ZOOM_RANGE,
    clip,
    motion,
)

SIZE = (48, 64)


def test_pretraining_and_held_out_photographs_split_the_bundled_ones():
    assert set(PRETRAINING_SOURCES).isdisjoint(HELD_OUT_SOURCES)
    assert sorted(PRETRAINING_SOURCES + HELD_OUT_SOURCES) == sorted(SOURCE_NAMES)
    assert {motion(i, SIZE).source for i in range(60)} == set(PRETRAINING_SOURCES)


def test_a_clip_is_its_seed_s_own_and_moves_smoothly():
    a, b = clip(3, SIZE), clip(4, SIZE)
    assert a.shape == (9, 48, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, clip(3, SIZE))
    step = np.abs(np.diff(a.astype(int), axis=0)).mean()
    assert 0 < step < 0.5 * np.abs(a[0].astype(int) - b[0]).mean()


@pytest.mark.parametrize("index", range(40))
def test_every_frame_is_a_small_roll_and_zoom_of_the_photograph_never_a_mirror(index):
    m = motion(index, SIZE)
    assert abs(m.roll_deg) <= MAX_ROLL_DEG < 90
    assert ZOOM_RANGE[0] <= m.zoom <= ZOOM_RANGE[1]
    for t in (0.0, 0.5, 1.0):
        a, b, _, d, e, _ = m.affine(t, SIZE)
        assert a * e - b * d > 0  # orientation kept: no flip
        assert math.degrees(math.atan2(d, a)) == pytest.approx(m.roll_deg * t)


def test_the_view_stays_inside_the_photograph():
    from trainables.pretraining_clips import _photo

    height, width = SIZE
    for index in range(40):
        m = motion(index, SIZE)
        src_w, src_h = _photo(m.source).size
        for t in (0.0, 0.5, 1.0):
            a, b, c, d, e, f = m.affine(t, SIZE)
            for x, y in ((0, 0), (width, 0), (0, height), (width, height)):
                sx, sy = a * x + b * y + c, d * x + e * y + f
                assert 0 <= sx <= src_w and 0 <= sy <= src_h, (index, t)


def test_bad_frames_and_held_out_sources_are_one_line_errors():
    from trainables.pretraining_clips import _photo

    with pytest.raises(ValueError, match=r"^bad frames 1; allowed: an int ≥ 2$"):
        clip(0, SIZE, frames=1)
    with pytest.raises(ValueError, match=r"^bad source 'coffee' for pretraining; allowed: "):
        _photo("coffee")
