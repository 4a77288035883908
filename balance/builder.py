"""Building a training set to a target: the GAN arm (synthetic images) and the oversampling arm.

Both arms start from the real training split, resolve the target with `resolve_target`, and only
add rows of the training set. Validation and test images are never rows, and never receive a
synthetic image: the result holds training rows only, which `check_training_only` verifies.
"""

import logging
import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..datasets.dataset import Dataset
from ..errors import UserError, invalid_argument
from ..datasets.splits import Splits
from .manifest import TrainingRow
from .strategy import Target, resolve_mix, resolve_target, target_label
from .synthetic import SyntheticFolder, SyntheticImage, check_matches_dataset, check_no_leak, read_synthetic_folder

log = logging.getLogger("xgan")

METHODS = ("gan", "oversample")


def build_training_set(dataset: Dataset, splits: Splits, target: Target, *, method: str = "gan",
                       synthetic_dirs=(), seed: int = 0, mix: str = "fill", synthetic_share: float | None = None,
                       skip_idle_folders: bool = False, synthetic_scores: Mapping[Path, float] | None = None) -> list[TrainingRow]:
    """The real training rows plus the rows that bring every class to its target count.

    Args:
        dataset: the real dataset (pixels not needed).
        splits: its splits; only the train split is used.
        target: anything `resolve_target` reads: 0.46, "1:2", "auto", {"covid": 300}.
        method: "gan" adds synthetic images drawn from `synthetic_dirs`; "oversample" repeats
            real training images of the classes that need more.
        synthetic_dirs: synthetic folders written by `xgan sample` (method "gan" only).
        seed: seeds which synthetic images are chosen, or which real images are repeated; the
            same inputs and seed give the same rows.
        mix, synthetic_share: how synthetic images are mixed in (method "gan" only; see
            `resolve_mix`): "fill" the classes below target, optionally capped at a share with
            the rest repeating real images, or "equal": the same synthetic share in every class.
        skip_idle_folders: leave out synthetic folders whose classes receive no synthetic image
            (a comparison passes every class's folder to every arm) instead of refusing them.
        synthetic_scores: curation: a score per synthetic image path (higher = better; see
            `classifier.curate`); each class then takes its highest-scoring images instead of a
            seeded random choice. Every image of a class that receives images must have a score.

    Returns:
        Real rows in key order, then the added rows class by class. Synthetic images are a
        seeded choice without replacement (or the best-scoring ones), kept in folder and manifest order. Oversampled rows
        repeat every image of a class once, in a seeded order, before any image a second time
        (so repeat counts differ by at most one), sorted by key.

    Raises:
        UserError: an unknown method, a target refused by `resolve_target`, a synthetic folder
            that is missing, of another dataset or class, or whose GAN read held-out images,
            or too few synthetic images.
    """
    if method not in METHODS:
        raise invalid_argument("method", f"one of {', '.join(METHODS)}", method)
    synthetic_dirs = [Path(d) for d in ([synthetic_dirs] if isinstance(synthetic_dirs, (str, Path)) else synthetic_dirs)]
    records = {r.key: r for r in dataset.records}
    train_keys = splits.keys("train")
    counts = dataset.class_counts(set(train_keys))
    wanted = resolve_target(counts, target)
    needed = {name: wanted[name] - counts[name] for name in dataset.class_names if wanted[name] > counts[name]}
    real = [TrainingRow(_absolute(records[key].path), key, records[key].label, "real") for key in train_keys]
    rng = np.random.default_rng(seed)
    if method == "oversample":
        if synthetic_dirs:
            raise UserError(f"method 'oversample' repeats real images and takes no synthetic folder; received {len(synthetic_dirs)} ({synthetic_dirs[0]})")
        added = _oversample(real, needed, rng)
    else:
        if not synthetic_dirs:
            raise UserError("method 'gan' needs at least one synthetic folder (--synthetic DIR, written by `xgan sample`)")
        plan = resolve_mix(counts, target, mix, synthetic_share)
        synthetic_needed = {name: plan[name]["synthetic"] for name in dataset.class_names if plan[name]["synthetic"] > 0}
        wanted = {name: sum(plan[name].values()) for name in dataset.class_names}
        folders = [read_synthetic_folder(d) for d in synthetic_dirs]
        if skip_idle_folders:
            folders = [folder for folder in folders if set(folder.labels) & set(synthetic_needed)] or folders[:1]
        for folder in folders:
            check_matches_dataset(folder, dataset)
            _check_needed_classes(folder, synthetic_needed, target)
        check_no_leak(folders, splits, dataset)
        added = _choose_synthetic(folders, synthetic_needed, wanted, rng, synthetic_scores)
        repeated = {name: plan[name]["repeated"] for name in dataset.class_names if plan[name]["repeated"] > 0}
        if repeated:
            added += _oversample(real, repeated, rng)
    rows = real + added
    check_training_only(rows, splits)
    return rows


def check_training_only(rows: list[TrainingRow], splits: Splits) -> None:
    """Refuse rows that are not training rows: a real or oversampled key outside the train split.

    Synthetic rows belong to no split; their GAN runs are checked by `check_no_leak`.

    Raises:
        UserError: naming the first key that is not in the train split and the split it is in.
    """
    for row in rows:
        if row.origin != "synthetic" and splits.assignments.get(row.key) != "train":
            split = splits.assignments.get(row.key, "no split")
            raise UserError(f"key {row.key!r} ({row.origin}) is in {split}, not in the train split of {splits.path}; a training set holds training images only")


def _check_needed_classes(folder: SyntheticFolder, needed: dict[str, int], target: Target) -> None:
    idle = [label for label in folder.labels if label not in needed]
    if idle:
        adds = ", ".join(needed) or "no class"
        raise UserError(f"{folder.path}: holds images of class {idle[0]}, but the target {target_label(target)} adds images to {adds} only; "
                        f"pass the synthetic folders of {adds}")


def _choose_synthetic(folders: list[SyntheticFolder], needed: dict[str, int], wanted: dict[str, int],
                      rng: np.random.Generator, scores: Mapping[Path, float] | None = None) -> list[TrainingRow]:
    pools: dict[str, list[SyntheticImage]] = defaultdict(list)
    seen, repeats = set(), 0
    for folder in folders:
        for image in folder.images:
            if image.identity in seen:  # the same run, checkpoint, seed, index and class: the same pixels
                repeats += 1
                continue
            seen.add(image.identity)
            pools[image.label].append(image)
    if repeats:
        log.warning("ignored %d synthetic image(s) listed twice across the folders (same run, checkpoint, seed and index)", repeats)
    rows = []
    for label, count in needed.items():
        pool = pools.get(label, [])
        if not pool:  # no GAN of these folders makes this class: sampling one of them again cannot help
            held = ", ".join(sorted(pools)) or "none"
            raise UserError(f"class {label} needs {count} synthetic images to reach {wanted[label]}, the synthetic folder(s) hold none "
                            f"(their classes: {held}): train a GAN on it (`xgan train --data DATA --class {label}`) or on every class "
                            "(`xgan train --data DATA --conditional`), sample it, and pass that folder too")
        if len(pool) < count:
            runs = sorted({str(image.run) for image in pool})
            run = runs[0] if runs else "RUN"
            raise UserError(f"class {label} needs {count} synthetic images to reach {wanted[label]}, the synthetic folder(s) hold {len(pool)}: "
                            f"make {count - len(pool)} more with `xgan sample --run {run} --n {count - len(pool)} --seed 1 --out {run}/synthetic-seed1` "
                            "and pass that folder too")
        if scores is None:
            chosen = np.sort(rng.choice(len(pool), size=count, replace=False))
        else:  # the best-scoring images; a stable sort keeps manifest order among equal scores
            missing = next((image.path for image in pool if image.path not in scores), None)
            if missing is not None:
                raise invalid_argument("scores", f"a score for every synthetic image of class {label}", received=f"none for {missing}",
                                       error=ValueError)
            ranked = np.argsort(-np.array([scores[image.path] for image in pool], dtype=np.float64), kind="stable")
            chosen = np.sort(ranked[:count])
        for index in chosen:
            image = pool[index]
            rows.append(TrainingRow(image.path, None, label, "synthetic", image.run, image.seed))
    return rows


def _oversample(real: list[TrainingRow], needed: dict[str, int], rng: np.random.Generator) -> list[TrainingRow]:
    by_class = defaultdict(list)
    for row in real:
        by_class[row.label].append(row)
    added = []
    for label, count in needed.items():
        pool = by_class[label]
        if not pool:
            raise UserError(f"class {label} has no training images to oversample; the target asks for {count}")
        draws: list[int] = []
        while len(draws) < count:  # a full seeded pass over the class before any image repeats again
            draws.extend(rng.permutation(len(pool))[: count - len(draws)].tolist())
        chosen = sorted(draws, key=lambda i: pool[i].key)
        added.extend(TrainingRow(pool[i].path, pool[i].key, label, "oversampled") for i in chosen)
    return added


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else Path(os.path.abspath(path))
