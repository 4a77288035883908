"""The minority-size sweep: seed intervals, the per-arm table and its figure."""

import math

import pytest
from scipy import stats

from xgan.study.sweep import plot_sweep, seed_interval, sweep_table


def test_seed_interval_is_the_t_interval_of_the_mean():
    interval = seed_interval([0.7, 0.8, 0.9])
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    assert interval["mean"] == pytest.approx(0.8)
    assert (interval["low"], interval["high"]) == (pytest.approx(0.8 - half), pytest.approx(0.8 + half))
    one = seed_interval([0.5, None, float("nan")])
    assert one["mean"] == 0.5 and math.isnan(one["low"]) and one["num_seeds"] == 1


def _comparison(values: dict[str, list[float]], positives: int) -> dict:
    return {"test_set": {"num_positive": positives},
            "arms": {arm: {"runs": [{"metrics": {"balanced_accuracy": v, "roc_auc": v + 0.1}} for v in seeds]}
                     for arm, seeds in values.items()}}


def test_sweep_table_has_a_row_per_arm_and_size(tmp_path):
    comparisons = {240: _comparison({"baseline": [0.8, 0.9], "gan": [0.7, 0.7]}, 135),
                   60: _comparison({"baseline": [0.6, 0.6], "gan": [0.5, 0.7]}, 135)}
    table = sweep_table(comparisons)
    assert table["sizes"] == [60, 240] and table["test_positives"] == [135, 135]
    assert [r["mean"] for r in table["arms"]["baseline"]["balanced_accuracy"]] == pytest.approx([0.6, 0.85])
    assert [r["mean"] for r in table["arms"]["gan"]["roc_auc"]] == pytest.approx([0.7, 0.8])
    path = plot_sweep(tmp_path / "sweep.png", table)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
