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
from ..errors import UserError, invalid_argument
from ..runs import read_json, write_json

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
        raise invalid_argument("fractions", "three non-negative fractions summing to 1", received=f"fractions={tuple(fractions)}", error=ValueError)
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


def cut_training_class(assignments: dict[str, str], labels: dict[str, str], groups: dict[str, str], class_name: str,
                       num_train: int, seed: int = 0) -> dict[str, str]:
    """Keep `num_train` training images of one class and mark its other training images excluded.

    Whole groups (patients) are kept or dropped together, visited in a seeded random order; a group
    that would overshoot `num_train` is passed over, so the count kept can fall short by less than one
    group. Validation and test images, and the other classes, are left exactly as they are.

    Args:
        assignments: key -> "train", "val", "test" or "excluded".
        labels, groups: key -> class name, key -> group (patient) of every key.
        class_name: the class to cut.
        num_train: training images of that class to keep (at least 1).
        seed: the choice's seed.

    Returns:
        A new assignment dict.

    Raises:
        UserError: the class has fewer training images than `num_train`, or none could be kept.
    """
    train = sorted(k for k, split in assignments.items() if split == "train" and labels[k] == class_name)
    if isinstance(num_train, bool) or not isinstance(num_train, int) or num_train < 1:
        raise invalid_argument("minority_train", "a positive integer", num_train)
    if num_train > len(train):
        raise invalid_argument("minority_train", f"at most the {len(train)} training images of class {class_name!r}", received=f"minority_train={num_train}")
    by_group: dict[str, list[str]] = {}
    for key in train:
        by_group.setdefault(groups[key], []).append(key)
    names = sorted(by_group)
    kept: list[str] = []
    for index in np.random.default_rng(seed).permutation(len(names)):
        members = by_group[names[index]]
        if len(kept) + len(members) <= num_train:
            kept.extend(members)
        if len(kept) == num_train:
            break
    if not kept:
        raise UserError(f"cannot keep {num_train} training image(s) of class {class_name!r}: every patient has more images than that")
    result = dict(assignments)
    kept_set = set(kept)
    for key in train:
        if key not in kept_set:
            result[key] = EXCLUDED
    return result


@dataclass
class Splits:
    """Which split every image of a dataset belongs to, and the file that records it.

    Attributes:
        cut: for splits whose class was cut (`--minority-train`): the class, the training images
            asked for and kept, the cut's seed and the splits file it was cut from; else None.
    """

    path: Path
    assignments: dict[str, str]
    seed: int
    grouped_by: str | None
    cut: dict | None = None

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
                   fractions=DEFAULT_FRACTIONS, minority_train: int | None = None, minority_class: str | None = None,
                   cut_seed: int = 0) -> Splits:
    """Load the dataset's splits, or make and save them the first time.

    An .npz keeps its own splits: without a test split its val split becomes the test split and a
    stratified share of train becomes val. A folder or manifest gets `make_splits`, grouped by
    patient_id where the manifest has one.

    With `minority_train`, the dataset's own splits (at their default place) are cut: only that
    many training images of `minority_class` (default: the class with the fewest training images)
    are kept, the others become "excluded", and val and test keep their natural class mix. The cut
    is saved to `splits_file` (default: beside the uncut splits) and reloaded from there.

    Raises:
        UserError: the file names another seed or another cut than asked, or misses images of the dataset.
    """
    if minority_train is not None:
        base = resolve_splits(dataset, None, seed, fractions)
        return cut_splits(dataset, base, minority_train, minority_class, cut_seed, splits_file)
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
    return Splits(path, assignments, int(data.get("seed", 0)), data.get("grouped_by"), data.get("cut"))


def cut_splits_path(base: Path, class_name: str, num_train: int, seed: int) -> Path:
    """Where a cut of the splits file `base` lives by default: beside it, named after the cut."""
    return base.with_name(f"{base.name.removesuffix('.json')}.cut-{class_name}-{num_train}-seed{seed}.json")


def patient_groups(dataset: Dataset) -> dict[str, str]:
    """The group of every image for splitting and cutting: its patient where known, else the image itself."""
    return {r.key: f"patient:{r.patient_id}" if r.patient_id else f"file:{r.key}" for r in dataset.records}


def cut_class(train_counts: dict[str, int], class_name: str | None = None) -> str:
    """The class a cut (or a GAN) works on: `class_name` if the data has it, else the one with the fewest training images.

    Raises:
        UserError: `class_name` is not a class of the data.
    """
    if class_name is None:
        return min(train_counts, key=lambda name: (train_counts[name], name))
    if class_name not in train_counts:
        raise invalid_argument("class_name", f"one of {', '.join(train_counts)}", class_name, option="--class")
    return class_name


def cut_assignments(dataset: Dataset, base: Splits, num_train: int, class_name: str, seed: int = 0) -> dict[str, str]:
    """`base`'s assignments with `class_name`'s training images cut to `num_train` (`cut_training_class` on this dataset)."""
    labels = {r.key: r.label for r in dataset.records}
    return cut_training_class(base.assignments, labels, patient_groups(dataset), class_name, num_train, seed)


def cut_splits(dataset: Dataset, base: Splits, num_train: int, class_name: str | None = None, seed: int = 0,
               path: Path | None = None) -> Splits:
    """The splits `base` with one class's training images cut to `num_train` (see `cut_training_class`), saved once.

    Raises:
        UserError: an unknown class, too few images, or an existing file that records another cut.
    """
    labels = {r.key: r.label for r in dataset.records}
    train_counts = dataset.class_counts(set(base.keys("train")))
    class_name = cut_class(train_counts, class_name)
    path = Path(path) if path else cut_splits_path(base.path, class_name, num_train, seed)
    wanted = {"class": class_name, "num_train": num_train, "seed": seed, "from": str(base.path)}
    if path.exists():
        splits = _load_existing(dataset, path, None)
        recorded = {k: (splits.cut or {}).get(k) for k in ("class", "num_train", "seed")}
        if recorded != {k: wanted[k] for k in recorded}:
            raise UserError(f"{path}: records the cut {recorded}, not {dict(list(wanted.items())[:3])}; pass another --splits file or delete it")
        return splits
    assignments = cut_assignments(dataset, base, num_train, class_name, seed)
    kept = sum(1 for k, s in assignments.items() if s == "train" and labels[k] == class_name)
    if kept < num_train:
        log.warning("kept %d training images of class %s, not %d: whole patients only", kept, class_name, num_train)
    cut = {**wanted, "kept": kept, "available": train_counts[class_name]}
    counts = {s: dataset.class_counts({k for k, v in assignments.items() if v == s}) for s in (*SPLIT_NAMES, EXCLUDED)}
    notes = [f"cut: {kept} of the {train_counts[class_name]} training images of class {class_name} kept (seed {seed}); "
             "validation and test untouched"]
    write_json(path, {"dataset": dataset.name, "fingerprint": dataset.fingerprint, "kind": dataset.kind, "seed": base.seed,
                      "grouped_by": base.grouped_by, "notes": notes, "cut": cut, "counts": counts, "assignments": assignments})
    log.info("wrote the cut splits to %s", path)
    return Splits(path, assignments, base.seed, base.grouped_by, cut)


def _new_assignments(dataset: Dataset, seed: int, fractions) -> tuple[dict[str, str], str | None, list[str]]:
    records = dataset.records
    if dataset.kind == "npz":
        return _npz_assignments(dataset, seed, fractions)
    has_patients = any(r.patient_id for r in records)
    groups = list(patient_groups(dataset).values())
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
