"""The one resolver that turns every way of saying a balancing target into `{class: count}`.

A target has imbalanced-learn's `sampling_strategy` meaning, for over-sampling only:

- a float in (0, 1]: for two classes, the minority count after balancing over the majority count
  (the study this follows went from 1366:295 to 1366:628, a ratio of 0.46); with three or more,
  every class below that fraction of the majority count is brought up to it;
- `"1:2"`: the same, written as minority:majority (here 0.5);
- a dict `{class: count}`: the count each named class should reach; other classes keep theirs;
- `"auto"`: every class up to the majority count.

`parse_target` reads the CLI string forms; `resolve_target` is used by every balancing arm.
"""

import math
import numbers
import re
from fractions import Fraction

from ..errors import UserError, invalid_argument

AUTO = "auto"
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")
_EXPECTED = ('a float in (0, 1] such as "0.5", a ratio "minority:majority" such as "1:2", "auto", '
             'or target counts per class such as "covid=300,normal=413"')

Target = float | dict[str, int] | str


def parse_target(text: str) -> Target:
    """Read a target as written on the command line.

    Args:
        text: `"0.5"`, `"1:2"`, `"auto"` or `"covid=300,normal=413"`.

    Returns:
        A float for `"0.5"` and `"1:2"`, a dict of counts, or `"auto"`.

    Raises:
        UserError: for anything else, naming what was received and what is expected.
    """
    if not isinstance(text, str):
        raise invalid_argument("ratio", _EXPECTED, text)
    stripped = text.strip()
    if stripped.lower() == AUTO:
        return AUTO
    if "=" in stripped:
        return _parse_counts(stripped)
    ratio = _RATIO.match(stripped)
    if ratio:
        minority, majority = float(ratio.group(1)), float(ratio.group(2))
        if majority == 0:
            raise invalid_argument("ratio", "a ratio minority:majority with a non-zero majority", text)
        return _check_float(minority / majority, text)
    try:
        value = float(stripped)
    except ValueError:
        raise invalid_argument("ratio", _EXPECTED, text) from None
    return _check_float(value, text)


def _parse_counts(text: str) -> dict[str, int]:
    counts = {}
    for part in text.split(","):
        name, _, number = part.partition("=")
        name = name.strip()
        if not name or not re.fullmatch(r"\s*\d+\s*", number):
            raise invalid_argument("ratio", 'target counts as class=count pairs separated by commas, such as "covid=300,normal=413"', text)
        if name in counts:
            raise invalid_argument("ratio", "each class once", received=f"ratio={text!r} (class {name!r} twice)")
        counts[name] = int(number)
    return counts


def _check_float(value: float, received) -> float:
    if not (0 < value <= 1):  # also refuses NaN
        raise invalid_argument("ratio", "a float in (0, 1]: the minority count after balancing over the majority count", received)
    return value


def target_label(target: Target) -> str:
    """A short name for a target, for file names and summaries: `0.5`, `auto`, `covid300-normal413`."""
    target = parse_target(target) if isinstance(target, str) else target
    if isinstance(target, dict):
        return "-".join(f"{name}{count}" for name, count in sorted(target.items()))
    if target == AUTO:
        return AUTO
    return f"{target:g}"


def resolve_target(counts: dict[str, int], target: Target) -> dict[str, int]:
    """Turn a target into the count every class should have after balancing, adding images only.

    Args:
        counts: images per class in the training split, `{class: n}`.
        target: a float in (0, 1] (with more than two classes: every class up to that fraction of the majority), a dict `{class: count}`, `"auto"`, or any
            string `parse_target` reads (`"0.5"`, `"1:2"`, `"covid=300"`).

    Returns:
        `{class: count after balancing}` for every class of `counts`, in the order of `counts`. A
        float's count is rounded half up from the exact decimal written, so 0.29 of 100 is 29 and
        0.5 of 413 is 207.

    Raises:
        UserError: a float outside (0, 1], an unknown class, a count
            below what a class already has, or a target that adds nothing.
    """
    counts = dict(counts)
    if len(counts) < 2:
        raise UserError(f"balancing needs at least two classes; found {len(counts)} ({', '.join(counts) or 'none'})")
    if isinstance(target, str):
        target = parse_target(target)
    if isinstance(target, bool) or not isinstance(target, (numbers.Real, dict, str)):
        raise invalid_argument("target", _EXPECTED, target)
    if isinstance(target, numbers.Real):
        return _resolve_float(counts, float(target))  # numpy floats too
    if isinstance(target, dict):
        return _resolve_counts(counts, target)
    if target == AUTO:
        majority = max(counts.values())
        wanted = {name: max(n, majority) for name, n in counts.items()}
        if wanted == counts:
            raise UserError(f"every class already has {majority} images, the target 'auto' asks for {majority}: nothing to add")
        return wanted
    raise invalid_argument("target", _EXPECTED, target)


def _resolve_float(counts: dict[str, int], ratio: float) -> dict[str, int]:
    _check_float(ratio, ratio)
    majority_class = max(counts, key=counts.get)
    majority = counts[majority_class]
    # Exact decimal arithmetic: float(0.29) * 100 is 28.999..., which must still give 29.
    wanted = math.floor(Fraction(repr(ratio)) * majority + Fraction(1, 2))
    if len(counts) > 2:  # every class below ratio x majority comes up to it
        if all(n >= wanted for name, n in counts.items() if name != majority_class):
            raise UserError(f"every class already has at least {wanted} images, the target {ratio:g} of the majority ({majority}) asks for {wanted}: nothing to add")
        return {name: (max(n, wanted) if name != majority_class else n) for name, n in counts.items()}
    minority_class = min(counts, key=counts.get) if len(set(counts.values())) > 1 else next(n for n in counts if n != majority_class)
    have = counts[minority_class]
    if wanted <= have:
        raise UserError(f"class {minority_class} already has {have} images, the target {ratio:g} asks for {wanted}: nothing to add")
    return {name: (wanted if name == minority_class else n) for name, n in counts.items()}


def _resolve_counts(counts: dict[str, int], target: dict) -> dict[str, int]:
    unknown = [name for name in target if name not in counts]
    if unknown:
        raise UserError(f"unknown class {unknown[0]!r} in the target; the dataset's classes are {', '.join(counts)}")
    for name, wanted in target.items():
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0:
            raise invalid_argument("target", f"a non-negative integer count for class {name!r}", received=f"{name}={wanted!r}")
        if wanted < counts[name]:
            raise UserError(f"class {name} already has {counts[name]} images, the target asks for {wanted}: balancing only adds images, it never removes any")
    if all(target[name] == counts[name] for name in target):
        asked = ", ".join(f"{name}={n}" for name, n in target.items())
        have = ", ".join(f"{name} {counts[name]}" for name in target)
        raise UserError(f"the training split already has {have} images, the target {asked} asks for the same: nothing to add")
    return {name: target.get(name, n) for name, n in counts.items()}


# How synthetic images are mixed into the classes. "fill": the classes below their target receive
# synthetic images (the study's way; every synthetic image then carries a minority label, so a CNN can
# learn "looks generated => minority"). "equal": every class, the majority too, receives the same
# share of synthetic images, so being synthetic predicts no label.
MIXES = ("fill", "equal")
DEFAULT_EQUAL_SHARE = 0.5


def resolve_mix(counts: dict[str, int], target: Target, mix: str = "fill",
                synthetic_share: float | None = None) -> dict[str, dict[str, int]]:
    """Turn a target and a mixing mode into how many real, repeated and synthetic images each class gets.

    Args:
        counts: real training images per class, `{class: n}`.
        target: anything `resolve_target` reads; it sets the class proportions after balancing.
        mix: "fill" or "equal" (see `MIXES`).
        synthetic_share: "fill": the most synthetic images a class may hold, as a share of its
            count after balancing (None = no cap); the rest of its gap repeats its real images.
            "equal": the share every class receives (None = `DEFAULT_EQUAL_SHARE`); classes are
            scaled up together, keeping the target's proportions, until every real image fits
            in the real part, and a class with too few real images repeats them.

    Returns:
        `{class: {"real": n, "repeated": n, "synthetic": n}}` in the order of `counts`.

    Raises:
        UserError: an unknown mix, a share outside its range, and whatever `resolve_target` refuses.
    """
    if mix not in MIXES:
        raise invalid_argument("mix", f"one of {', '.join(MIXES)}", mix)
    if synthetic_share is not None and (isinstance(synthetic_share, bool) or not isinstance(synthetic_share, numbers.Real)
                                        or not 0 < synthetic_share <= 1 or (mix == "equal" and synthetic_share >= 1)):
        expected = "a share in (0, 1)" if mix == "equal" else "a share in (0, 1]"
        raise invalid_argument("synthetic_share", f"{expected}: synthetic images over a class's count after balancing", synthetic_share)
    wanted = resolve_target(counts, target)
    if mix == "fill":
        plan = {}
        for name, have in counts.items():
            gap = wanted[name] - have
            synthetic = gap if synthetic_share is None else min(gap, _round_half_up(synthetic_share, wanted[name], floor=True))
            plan[name] = {"real": have, "repeated": gap - synthetic, "synthetic": synthetic}
        return plan
    share = DEFAULT_EQUAL_SHARE if synthetic_share is None else float(synthetic_share)
    real_share = Fraction(1) - Fraction(repr(share))
    # The smallest common scale at which every class's real images fit in its real part.
    scale = max(Fraction(have) / (real_share * wanted[name]) for name, have in counts.items())
    plan = {}
    for name, have in counts.items():
        final = math.ceil(scale * wanted[name])
        synthetic = _round_half_up(share, final)
        plan[name] = {"real": have, "repeated": final - synthetic - have, "synthetic": synthetic}
        if plan[name]["repeated"] < 0:  # rounding of the share took a real image's place: give it back
            plan[name]["synthetic"] += plan[name]["repeated"]
            plan[name]["repeated"] = 0
    return plan


def _round_half_up(share: float, count: int, floor: bool = False) -> int:
    exact = Fraction(repr(float(share))) * count
    return math.floor(exact) if floor else math.floor(exact + Fraction(1, 2))
