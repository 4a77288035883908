"""The one target resolver: every way of saying a target, and every refusal, checked exactly."""

import math

import numpy as np
import pytest

from xgan.balance import parse_target, resolve_target, target_label
from xgan.errors import UserError

COVID = {"covid": 32, "normal": 413}  # the bundled data's training split
STUDY = {"covid": 295, "normal": 1366}  # the study this follows: 1366:295, balanced at 0.46


@pytest.mark.parametrize("counts, target, expected", [
    ({"covid": 10, "normal": 100}, 0.29, {"covid": 29, "normal": 100}),  # int(0.29 * 100) would be 28
    ({"covid": 10, "normal": 100}, "0.29", {"covid": 29, "normal": 100}),
    ({"covid": 10, "normal": 100}, 0.57, {"covid": 57, "normal": 100}),  # 0.57 * 100 is 56.99999999999999
    (STUDY, 0.46, {"covid": 628, "normal": 1366}),  # 0.46 * 1366 = 628.36
    (STUDY, "0.46", {"covid": 628, "normal": 1366}),
    (COVID, 0.5, {"covid": 207, "normal": 413}),  # 206.5 rounds half up
    (COVID, "0.5", {"covid": 207, "normal": 413}),
    (COVID, "1:2", {"covid": 207, "normal": 413}),
    (COVID, " 2 : 4 ", {"covid": 207, "normal": 413}),
    ({"covid": 10, "normal": 300}, "1:3", {"covid": 100, "normal": 300}),
    (COVID, 1.0, {"covid": 413, "normal": 413}),
    (COVID, 1, {"covid": 413, "normal": 413}),
    (STUDY, np.float64(0.46), {"covid": 628, "normal": 1366}),
    (STUDY, np.float32(0.5), {"covid": 683, "normal": 1366}),
    ({"normal": 413, "covid": 32}, 0.5, {"normal": 413, "covid": 207}),  # class order kept
    (COVID, "auto", {"covid": 413, "normal": 413}),
    (COVID, "AUTO", {"covid": 413, "normal": 413}),
    ({"a": 5, "b": 10, "c": 20}, "auto", {"a": 20, "b": 20, "c": 20}),
    ({"a": 5, "b": 10, "c": 20}, 0.5, {"a": 10, "b": 10, "c": 20}),  # three classes: each up to half the majority
    ({"a": 5, "b": 12, "c": 20}, "1:2", {"a": 10, "b": 12, "c": 20}),
    (COVID, {"covid": 300}, {"covid": 300, "normal": 413}),
    (COVID, {"covid": 300, "normal": 413}, {"covid": 300, "normal": 413}),
    (COVID, "covid=300,normal=413", {"covid": 300, "normal": 413}),
    (COVID, "covid=300", {"covid": 300, "normal": 413}),
    ({"a": 5, "b": 10, "c": 20}, {"a": 20, "b": 15}, {"a": 20, "b": 15, "c": 20}),
    ({"a": 5, "b": 10, "c": 20}, "a=8", {"a": 8, "b": 10, "c": 20}),
])
def test_resolve_target_gives_exact_counts(counts, target, expected):
    assert resolve_target(counts, target) == expected
    assert list(resolve_target(counts, target)) == list(counts)


def test_study_ratio_is_round_not_truncation():
    assert 0.46 * 1366 == pytest.approx(628.36)
    assert resolve_target(STUDY, 0.46)["covid"] == round(0.46 * 1366) == 628
    assert resolve_target({"covid": 10, "normal": 100}, 0.29)["covid"] == 29 != int(0.29 * 100)


@pytest.mark.parametrize("text, expected", [
    ("0.5", 0.5), (" 0.46 ", 0.46), ("1", 1.0), ("1:2", 0.5), ("2:4", 0.5), ("1.5:3", 0.5),
    ("auto", "auto"), (" Auto ", "auto"),
    ("covid=300,normal=413", {"covid": 300, "normal": 413}), ("covid = 300", {"covid": 300}),
])
def test_parse_target(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize("target, label", [
    (0.5, "0.5"), ("1:2", "0.5"), ("auto", "auto"), ({"normal": 413, "covid": 300}, "covid300-normal413"),
    ("covid=300", "covid300"), (0.46, "0.46"),
])
def test_target_label(target, label):
    assert target_label(target) == label


@pytest.mark.parametrize("counts, target, message", [
    (COVID, 0.05, "class covid already has 32 images, the target 0.05 asks for 21: nothing to add"),
    (COVID, "1:20", "class covid already has 32 images, the target 0.05 asks for 21: nothing to add"),
    (COVID, 0.07, "class covid already has 32 images, the target 0.07 asks for 29: nothing to add"),
    ({"covid": 50, "normal": 50}, 1.0, "class normal already has 50 images, the target 1 asks for 50: nothing to add"),
    ({"covid": 50, "normal": 50}, "auto", "every class already has 50 images, the target 'auto' asks for 50: nothing to add"),
    (COVID, {"covid": 32}, "already has covid 32 images, the target covid=32 asks for the same: nothing to add"),
    (COVID, {"normal": 300}, "class normal already has 413 images, the target asks for 300: balancing only adds images"),
    ({"a": 15, "b": 10, "c": 20}, 0.5, r"every class already has at least 10 images, the target 0.5 of the majority \(20\) asks for 10: nothing to add"),
    (COVID, 1.5, r"Expected a float in \(0, 1\].*Received: ratio=1.5"),
    (COVID, 0.0, r"Expected a float in \(0, 1\].*Received: ratio=0.0"),
    (COVID, -0.2, r"Expected a float in \(0, 1\]"),
    (COVID, math.nan, r"Expected a float in \(0, 1\]"),
    (COVID, "1.5", r"Expected a float in \(0, 1\].*Received: ratio='1.5'"),
    (COVID, "3:2", r"Expected a float in \(0, 1\].*Received: ratio='3:2'"),
    (COVID, "1:0", r"non-zero majority.*Received: ratio='1:0'"),
    (COVID, "half", r"Expected a float in \(0, 1\] such as \"0.5\".*Received: ratio='half'"),
    (COVID, "covid=many", r"class=count pairs.*Received: ratio='covid=many'"),
    (COVID, "covid=300,covid=310", r"each class once.*class 'covid' twice"),
    (COVID, {"pneumonia": 10}, "unknown class 'pneumonia' in the target; the dataset's classes are covid, normal"),
    (COVID, "pneumonia=10", "unknown class 'pneumonia' in the target"),
    (COVID, {"covid": -1}, r"Expected a non-negative integer count for class 'covid'. Received: covid=-1"),
    (COVID, {"covid": 40.5}, r"Received: covid=40.5"),
    (COVID, True, r"Received: target=True"),
    (COVID, None, r"Received: target=None"),
    ({"covid": 32}, 0.5, r"balancing needs at least two classes; found 1 \(covid\)"),
])
def test_resolve_target_refusals(counts, target, message):
    with pytest.raises(UserError, match=message):
        resolve_target(counts, target)


# --- mixing modes: where the synthetic images go -------------------------------------------------

from xgan.balance import resolve_mix  # noqa: E402

PNEUMONIA_CUT = {"normal": 99, "pneumonia": 3300}  # PneumoniaMNIST's normal class cut to 120, after the split


@pytest.mark.parametrize("counts, target, mix, share, expected", [
    # fill, no cap: the study's way, every synthetic image is a minority image
    (PNEUMONIA_CUT, 0.5, "fill", None, {"normal": (99, 0, 1551), "pneumonia": (3300, 0, 0)}),
    # fill capped at half of the class: 825 synthetic, the rest of the gap repeats real normal images
    (PNEUMONIA_CUT, 0.5, "fill", 0.5, {"normal": (99, 726, 825), "pneumonia": (3300, 0, 0)}),
    # a cap above the gap's share changes nothing
    (COVID, "auto", "fill", 1.0, {"covid": (32, 0, 381), "normal": (413, 0, 0)}),
    # equal: both classes half synthetic, proportions 1:2 kept (1650 + 1650 vs 3300 + 3300)
    (PNEUMONIA_CUT, 0.5, "equal", None, {"normal": (99, 1551, 1650), "pneumonia": (3300, 0, 3300)}),
    (PNEUMONIA_CUT, "auto", "equal", 0.25, {"normal": (99, 3201, 1100), "pneumonia": (3300, 0, 1100)}),
    ({"a": 5, "b": 10, "c": 20}, "auto", "equal", 0.5, {"a": (5, 15, 20), "b": (10, 10, 20), "c": (20, 0, 20)}),
])
def test_resolve_mix(counts, target, mix, share, expected):
    plan = resolve_mix(counts, target, mix, share)
    assert {name: (p["real"], p["repeated"], p["synthetic"]) for name, p in plan.items()} == expected
    totals = {name: sum(p.values()) for name, p in plan.items()}
    if mix == "equal":  # the same synthetic share in every class, to rounding
        shares = [p["synthetic"] / totals[name] for name, p in plan.items()]
        assert max(shares) - min(shares) < 1e-3
    # the target's proportions hold whatever the mix
    wanted = resolve_target(counts, target)
    first, second = list(counts)[:2]
    assert totals[first] / totals[second] == pytest.approx(wanted[first] / wanted[second], abs=1e-3)


@pytest.mark.parametrize("mix, share, message", [
    ("both", None, r"argument `mix`. Expected one of fill, equal. Received: mix='both'"),
    ("equal", 1.0, r"Expected a share in \(0, 1\): .* Received: synthetic_share=1.0"),
    ("fill", 0.0, r"Expected a share in \(0, 1\]: .* Received: synthetic_share=0.0"),
    ("fill", True, r"Received: synthetic_share=True"),
])
def test_resolve_mix_refusals(mix, share, message):
    with pytest.raises(UserError, match=message):
        resolve_mix(COVID, 0.5, mix, share)
