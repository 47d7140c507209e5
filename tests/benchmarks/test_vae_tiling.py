"""benchmarks.vae_tiling runs small on the CPU (its figures are for a GPU)."""

from __future__ import annotations

import json

from benchmarks import vae_tiling


def test_vae_tiling_measures_both_ways_and_tiles_nothing_below_a_tile(tmp_path):
    out = tmp_path / "vae_tiling.json"
    assert (
        vae_tiling.main(["--height", "32", "--width", "48", "--frames", "5", "--out", str(out)])
        == 0
    )
    rows = json.loads(out.read_text())["rows"]
    assert [r["tiled"] for r in rows[:2]] == [False, True]
    assert rows[0]["latents"] == [1, 16, 2, 4, 6]  # 5 frames → 2 latent frames, 8× in space
    batch, channels, frames, height, width = rows[2]["decoded_shape"]
    assert (batch, channels, height, width) == (1, 3, 32, 48) and frames >= 5
    # Smaller than one tile: the tiled decode is the untiled one.
    assert rows[2]["tiled_vs_untiled_max_abs"] == 0.0
