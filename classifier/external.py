"""External test sets: every model of a comparison scored on images from another source, as `xgan evaluate` scores them.

A verdict measured on a test split drawn from the training source says little about another hospital's
films (issue 20). `xgan classify --external DATA` (repeatable) loads each set before anything trains,
refusing one with a class the models do not know; after training, every arm's models are scored on it
through `evaluate.score_images` (the code path of `xgan evaluate`), at their stored thresholds, on the
images none of the compared models trained or stopped early on (left out with a count, as evaluate
does). The arms are then compared on each set exactly as on the internal test split (`compare.py`),
and the drop from the internal test is reported beside.
"""

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..datasets.dataset import Dataset, load_dataset
from ..errors import UserError

log = logging.getLogger("xgan")

EXTERNAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ExternalSpec:
    """An external test set as the user named it: `NAME=PATH`, or a path named by its folder or file."""

    name: str
    path: Path

    def __str__(self) -> str:
        return f"{self.name}={self.path}"


def parse_external(value) -> ExternalSpec:
    """`NAME=PATH` or `PATH` (named by its folder, by a manifest.csv's folder, or by a file's stem).

    Raises:
        UserError: a missing path or a name that is not a short word.
    """
    if isinstance(value, ExternalSpec):
        return value
    text = str(value)
    name, _, path = text.partition("=") if "=" in text and not Path(text).exists() else ("", "", text)
    path = Path(path)
    if not path.exists():
        raise UserError(f"--external {text}: no such file or folder; expected a class-per-folder directory, a manifest.csv or an .npz, "
                        "optionally as NAME=PATH")
    if not name:
        resolved = path.resolve()
        name = resolved.parent.name if resolved.name == "manifest.csv" else (resolved.stem if resolved.is_file() else resolved.name)
    if not EXTERNAL_NAME.match(name):
        raise UserError(f"--external {text}: the name {name!r} is not a short word of letters, digits, '_', '.' or '-'; "
                        "name the set with NAME=PATH")
    return ExternalSpec(name, path)


def parse_externals(values) -> tuple[ExternalSpec, ...]:
    """Every `--external` value parsed, each name once.

    Raises:
        UserError: a bad value, or two sets of the same name.
    """
    specs = tuple(parse_external(value) for value in values)
    names = [spec.name for spec in specs]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice:
        raise UserError(f"--external: two sets named {twice!r}; name them apart with NAME=PATH")
    return specs


@dataclass
class ExternalSet:
    """A loaded external test set: its name and dataset (labels named as the models' classes)."""

    spec: ExternalSpec
    dataset: Dataset


def load_external_sets(specs, class_names: list[str], size: int) -> list[ExternalSet]:
    """Load every external set at the classifier's size, before any training.

    Raises:
        UserError: an unreadable set, or one holding a class the models will not know.
    """
    if not specs:
        return []
    from .evaluate import known_classes  # imports no Keras: TensorFlow must not start here before classify's workers fork

    loaded = []
    for spec in specs:
        dataset = known_classes(load_dataset(spec.path, size), list(class_names), f"--external {spec.name}={spec.path}")
        loaded.append(ExternalSet(spec, dataset))
    return loaded


def unseen_external_images(sets: list[ExternalSet], runs) -> list[tuple[ExternalSet, object, int]]:
    """(set, its images no compared model trained or stopped early on, how many were left out) for every set.

    Every arm's models saw the same real training and validation images (the arms differ in synthetic, repeated or
    weighted images), so each set is what `xgan evaluate` scores.
    """
    from .evaluate import seen_hashes, unseen_images

    seen = set().union(*(seen_hashes(run.run_dir) for run in runs))
    prepared = []
    for external in sets:
        images, num_excluded = unseen_images(external.dataset, seen, f"--external {external.spec}")
        prepared.append((external, images, num_excluded))
    return prepared


def external_scores(model_dir, prepared: list, tta: bool = False) -> dict:
    """{set name: `score_images` result} of one saved model on every prepared set (`unseen_external_images`); loads the
    model and clears Keras's session after, in the process that should hold it."""
    import keras

    from .ensemble import load_ensemble
    from .evaluate import score_images

    ensemble = load_ensemble([model_dir])
    results = {external.spec.name: score_images(ensemble, images, tta) for external, images, _ in prepared}
    keras.backend.clear_session()
    return results


def score_external_sets(sets: list[ExternalSet], runs, experiment, compare: bool, tta: bool = False, seed: int = 0,
                        target_sensitivity: float | None = None, scores: dict | None = None, prepared: list | None = None) -> dict:
    """Score every run's saved model on every external set and compare the arms there as on the test split.

    Args:
        sets: the loaded external sets (`load_external_sets`).
        runs: the comparison's (or seed ensemble's) ArmRun objects, each with its saved model in `run_dir`.
        experiment: the internal experiment (validation split for the ensembles' thresholds, class names).
        compare: True for an arms comparison (`compare_arms`), False for one arm's seeds (`seed_ensemble`).
        scores: {(arm, seed): `external_scores` of that run's model} computed elsewhere (each in its model's worker
            process, on `prepared`); the runs missing from it are loaded and scored here.
        prepared: the `unseen_external_images` those scores were computed on (None: made here).

    Returns:
        {set name: record}: the set's source, counts, images left out, and the comparison (or seed ensemble)
        record on it, with each arm's `drop_from_internal` (internal mean minus external mean, per metric).
    """
    if not sets:
        return {}
    from .compare import _test_counts, compare_arms, seed_ensemble, test_targets
    from .metrics import METRICS, summarize_runs

    prepared = prepared if prepared is not None else unseen_external_images(sets, runs)
    scores = scores or {}
    scored = {external.spec.name: [] for external in sets}
    for run in runs:
        results = scores.get((run.arm, run.seed)) or external_scores(run.run_dir, prepared, tta)
        for external, _, _ in prepared:
            result = results[external.spec.name]
            scored[external.spec.name].append(replace(run, probabilities=result.probabilities, metrics=result.metrics))
    records = {}
    for external, images, num_excluded in prepared:
        external_runs = scored[external.spec.name]
        on_set = replace(experiment, test=images)
        if compare:
            record = compare_arms(external_runs, on_set, seed, target_sensitivity=target_sensitivity)
            for data in record["arms"].values():
                data.pop("training_set", None)
        else:
            record = seed_ensemble(external_runs, on_set, target_sensitivity)
        internal = _internal_means(runs)
        by_arm = {}
        for run in external_runs:
            by_arm.setdefault(run.arm, []).append(run)
        drops = {arm: {m: internal[arm][m] - summarize_runs([r.metrics[m] for r in arm_runs])["mean"] for m in METRICS}
                 for arm, arm_runs in by_arm.items()}
        records[external.spec.name] = {
            "name": external.spec.name, "source": str(external.dataset.source), "dataset_fingerprint": external.dataset.fingerprint,
            "num_excluded_seen": num_excluded, **_test_counts(test_targets(on_set), on_set),
            "scored_as": "xgan evaluate: each model at its stored threshold, on every image none of the compared models trained or stopped early on",
            "drop_from_internal": drops, **record}
    return records


def _internal_means(runs) -> dict:
    """{arm: {metric: mean over seeds}} on the internal test split."""
    from .metrics import METRICS, summarize_runs

    by_arm = {}
    for run in runs:
        by_arm.setdefault(run.arm, []).append(run)
    return {arm: {m: summarize_runs([r.metrics[m] for r in arm_runs])["mean"] for m in METRICS} for arm, arm_runs in by_arm.items()}
