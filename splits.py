"""Train/validation/test splits that never leak, made once and reused by every command.

`make_splits` is a pure, seeded, stratified split that keeps all images of a patient together.
`resolve_splits` loads the dataset's `splits.json` or writes it the first time, so the GAN, the
balancer and the classifier all see the same training split.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .errors import UserError
from .runs import read_json, write_json

log = logging.getLogger("xgan")

SPLIT_NAMES = ("train", "val", "test")
EXCLUDED = "excluded"
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def make_splits(labels, groups, fractions=DEFAULT_FRACTIONS, seed: int = 0) -> np.ndarray:
    """Assign every item to train, val or test, stratified by label and never splitting a group.

    Groups are visited in a seeded random order, largest first, and each goes to the split whose
    per-class quota is least filled, so class proportions come close to `fractions` in every split.

    Args:
        labels: class of each item.
        groups: group of each item (a patient id); items of one group always share a split.
        fractions: train, val and test fractions, summing to 1.
        seed: the shuffle's seed; the same inputs and seed give the same splits.

    Returns:
        An array of "train", "val" or "test", one per item.
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"Invalid value received for argument `fractions`. Expected three non-negative fractions summing to 1. Received: fractions={tuple(fractions)}")
    labels, groups = np.asarray(labels), np.asarray(groups, dtype=object)
    classes, label_index = np.unique(labels, return_inverse=True)
    unique_groups, group_index = np.unique(groups.astype(str), return_inverse=True)
    group_counts = np.zeros((len(unique_groups), len(classes)))
    np.add.at(group_counts, (group_index, label_index), 1)
    class_totals = group_counts.sum(axis=0)
    targets = np.outer(fractions, class_totals)
    filled = np.zeros_like(targets)
    order = np.random.default_rng(seed).permutation(len(unique_groups))
    order = order[np.argsort(-group_counts[order].sum(axis=1), kind="stable")]
    group_split = np.zeros(len(unique_groups), dtype=np.int64)
    for group in order:
        counts = group_counts[group]
        deficit = ((targets - filled) / class_totals * counts).sum(axis=1)
        deficit[fractions == 0] = -np.inf
        choice = int(np.argmax(deficit))
        group_split[group] = choice
        filled[choice] += counts
    return np.array(SPLIT_NAMES, dtype=object)[group_split[group_index]]


def exclude_duplicates(assignments: dict[str, str], hashes: dict[str, str]) -> dict[str, str]:
    """Mark as excluded any train or val image whose pixels also appear in a later split.

    Exact duplicates across splits would let a model see a test image in training.

    Returns:
        A new assignment dict; the count of excluded images is logged.
    """
    result = dict(assignments)
    for later, earlier_splits in (("test", ("train", "val")), ("val", ("train",))):
        later_hashes = {hashes[k] for k, s in result.items() if s == later}
        for key, split in result.items():
            if split in earlier_splits and hashes[key] in later_hashes:
                result[key] = EXCLUDED
    num_excluded = sum(s == EXCLUDED for s in result.values()) - sum(s == EXCLUDED for s in assignments.values())
    if num_excluded:
        log.warning("excluded %d image(s) from train/val: pixel-identical to a validation or test image", num_excluded)
    return result


@dataclass
class Splits:
    """Which split every image of a dataset belongs to, and the file that records it."""

    path: Path
    assignments: dict[str, str]
    seed: int
    grouped_by: str | None

    def keys(self, split: str) -> list[str]:
        """Keys of the images in one split, in a stable order."""
        return sorted(k for k, s in self.assignments.items() if s == split)


def default_splits_path(dataset: Dataset) -> Path:
    """Where a dataset's splits live: beside it, unless it is in a read-only place."""
    source = dataset.source
    if source.is_dir():
        beside = source / "splits.json"
    else:
        beside = source.with_name(f"{source.stem}.splits.json")
    if beside.exists() or os.access(beside.parent, os.W_OK):
        return beside
    return Path("samples") / "splits" / f"{dataset.name}.splits.json"


def resolve_splits(dataset: Dataset, splits_file: Path | None = None, seed: int | None = None,
                   fractions=DEFAULT_FRACTIONS) -> Splits:
    """Load the dataset's splits, or make and save them the first time.

    An .npz keeps its own splits: without a test split its val split becomes the test split and a
    stratified share of train becomes val. A folder or manifest gets `make_splits`, grouped by
    patient_id where the manifest has one.

    Raises:
        UserError: the file names another seed than asked, or misses images of the dataset.
    """
    path = Path(splits_file) if splits_file else default_splits_path(dataset)
    if path.exists():
        return _load_existing(dataset, path, seed)
    seed = 0 if seed is None else seed
    assignments, grouped_by, notes = _new_assignments(dataset, seed, fractions)
    assignments = exclude_duplicates(assignments, dict(zip((r.key for r in dataset.records), dataset.content_hashes)))
    counts = {s: dataset.class_counts({k for k, v in assignments.items() if v == s}) for s in (*SPLIT_NAMES, EXCLUDED)}
    for split in SPLIT_NAMES:
        empty = [c for c, n in counts[split].items() if n == 0]
        if empty:
            log.warning("the %s split has no images of class %s", split, ", ".join(empty))
    write_json(path, {
        "dataset": dataset.name, "fingerprint": dataset.fingerprint, "kind": dataset.kind, "seed": seed,
        "fractions": list(fractions), "grouped_by": grouped_by, "notes": notes,
        "counts": counts, "assignments": assignments,
    })
    log.info("wrote splits to %s", path)
    return Splits(path, assignments, seed, grouped_by)


def _load_existing(dataset: Dataset, path: Path, seed: int | None) -> Splits:
    try:
        data = read_json(path)
        assignments = dict(data["assignments"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a readable splits file ({error}); delete it to make new splits") from None
    if seed is not None and data.get("seed") != seed:
        raise UserError(f"{path}: was made with split seed {data.get('seed')}, not {seed}; pass --splits with another file or delete it to re-split")
    missing = [r.key for r in dataset.records if r.key not in assignments]
    if missing:
        raise UserError(f"{path}: {len(missing)} image(s) of {dataset.source} are not in it (e.g. {missing[0]!r}); the data changed after the split was made. Delete it to re-split, then retrain the GAN")
    unknown = set(assignments.values()) - {*SPLIT_NAMES, EXCLUDED}
    if unknown:
        raise UserError(f"{path}: unknown split name(s) {sorted(unknown)}; expected train, val, test or excluded")
    present = {r.key for r in dataset.records}
    assignments = {k: v for k, v in assignments.items() if k in present}
    return Splits(path, assignments, int(data.get("seed", 0)), data.get("grouped_by"))


def _new_assignments(dataset: Dataset, seed: int, fractions) -> tuple[dict[str, str], str | None, list[str]]:
    records = dataset.records
    if dataset.kind == "npz":
        return _npz_assignments(dataset, seed, fractions)
    has_patients = any(r.patient_id for r in records)
    groups = [f"patient:{r.patient_id}" if r.patient_id else f"file:{r.key}" for r in records]
    split = make_splits([r.label for r in records], groups, fractions, seed)
    notes = [] if has_patients else ["no patient ids: split by file"]
    return dict(zip((r.key for r in records), split)), "patient_id" if has_patients else None, notes


def _npz_assignments(dataset: Dataset, seed: int, fractions) -> tuple[dict[str, str], None, list[str]]:
    own = {r.split for r in dataset.records}
    assignments = {r.key: r.split for r in dataset.records}
    notes = []
    if "test" not in own and own != {"train"}:
        # The source's val split is the only held-out data: it becomes test, and val is carved from train.
        assignments = {k: ("test" if s == "val" else s) for k, s in assignments.items()}
        notes.append("no test split in the file: its val split is used as test, val is carved from train")
    if "val" not in set(assignments.values()) and "train" in own:
        train = [r for r in dataset.records if r.split == "train"]
        share = fractions[1] / (fractions[0] + fractions[1]) if "test" in set(assignments.values()) else None
        carve = (1 - share, share, 0.0) if share is not None else tuple(fractions)
        split = make_splits([r.label for r in train], [r.key for r in train], carve, seed)
        assignments.update(zip((r.key for r in train), split))
    return assignments, None, notes
