"""The arms of `xgan classify --compare`: one `Arm` record each, in one registry that every path reads.

Every arm trains the same network on the same splits with the same seeds; only the training set, the
loss weights, the augmentation or a second stage differ. An `Arm` says all of it: how its training set
is built (its builder), whether the loss is class-weighted, whether Keras augmentation layers or a
fine-tuning on the real images follow, and what the arm needs from the inputs. `ClassifyConfig`'s
checks and its `arms`, the comparison loop, `--arms`, the study, the report and the leak check all
read `ARMS`.

Adding an arm: write its builder, `(config, experiment, seed, curation) -> LabeledImages` (the
training images of one seed), and add one `Arm` to `ARMS`. Whatever synthetic images a builder
draws, `training_set` refuses them when their GAN read a validation or test image.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..balance import build_training_set, check_no_leak, class_weights
from ..errors import invalid_argument
from .data import LabeledImages, rows_to_images

BASELINE_ARM = "baseline"  # real images only: every other arm is compared with it, and it always trains in a comparison
WITH_GAN_ARM = "gan"  # the one model `xgan classify --with-gan` trains
FINETUNE_LEARNING_RATE_FACTOR = 0.1  # fine-tuning on real images starts from trained weights: a tenth of the learning rate


@dataclass(frozen=True)
class Arm:
    """One arm of the comparison: how its training set is built and how its model is trained on it."""

    name: str
    description: str  # one line, for the report, --arms and each model's config.json
    build: Callable[..., LabeledImages]  # (config, experiment, seed, curation) -> the training images of one seed
    class_weights: bool = False  # each class weighted n / (classes * n_class) in the loss, counted in its own training set
    augment: bool = False  # classic augmentation layers (rotations, shifts, zooms, contrast) while training
    fine_tune_on_real: bool = False  # then fine-tuned on the real training split alone (FINETUNE_LEARNING_RATE_FACTOR)
    needs_synthetic: bool = False  # trains on synthetic images: --synthetic folders or a --manifest
    mixes_synthetic: bool = False  # draws synthetic images from --synthetic folders itself: a --manifest cannot feed it
    every_class_synthetic: bool = False  # every class receives synthetic images: left out, unless asked for, when a class has none
    curated_by_baseline: bool = False  # its synthetic images are the ones the same seed's baseline scores best: trained after it
    checked_by: str | None = None  # an arm whose first training set checks the same inputs: when it runs, this one's is not built early
    in_study: bool = False  # one of the arms `xgan run` compares without --conditional (with it, every arm the inputs allow)


def real_training_split(config, experiment, seed: int, curation=None) -> LabeledImages:
    """The real training split as it is."""
    return experiment.train


def oversampled(config, experiment, seed: int, curation=None) -> LabeledImages:
    """Real images of the classes below the target repeated up to it (the manifest's counts when one is given)."""
    rows = build_training_set(experiment.dataset, experiment.splits, balancing_target(config, experiment), method="oversample", seed=seed)
    return rows_to_images(rows, experiment.dataset, experiment.splits)


def synthetic_fill(config, experiment, seed: int, curation=None) -> LabeledImages:
    """The real training split plus synthetic images up to the target: the --manifest's rows when one is given."""
    if experiment.manifest_rows:
        return rows_to_images(experiment.manifest_rows, experiment.dataset, experiment.splits)
    return synthetic_mix(config, experiment, seed, "fill")


def synthetic_capped(config, experiment, seed: int, curation=None) -> LabeledImages:
    """As `synthetic_fill`, at most --synthetic-cap of a class synthetic; the rest of its gap repeats its real images."""
    return synthetic_mix(config, experiment, seed, "fill", config.synthetic_cap)


def synthetic_equal(config, experiment, seed: int, curation=None) -> LabeledImages:
    """Every class the same share (--equal-share) of synthetic images; with `curation`, each class's best-scored ones."""
    return synthetic_mix(config, experiment, seed, "equal", config.equal_share, curation)


def synthetic_mix(config, experiment, seed: int, mix: str, share: float | None = None, scores: dict | None = None) -> LabeledImages:
    """The real training split mixed with images of the --synthetic folders (`balance.build_training_set`)."""
    # Every class's folder reaches every arm: a fill arm leaves out the majority's.
    rows = build_training_set(experiment.dataset, experiment.splits, config.ratio, method="gan", synthetic_dirs=config.synthetic,
                              seed=seed, mix=mix, synthetic_share=share, skip_idle_folders=True, synthetic_scores=scores)
    return rows_to_images(rows, experiment.dataset, experiment.splits)


def balancing_target(config, experiment):
    """The oversampling arm's target: the manifest's class counts when one is given (so it matches the GAN arm), else --ratio."""
    if not experiment.manifest_rows:
        return config.ratio
    counts = {name: 0 for name in experiment.class_names}
    for row in experiment.manifest_rows:
        counts[row.label] = counts.get(row.label, 0) + 1
    train_counts = experiment.dataset.class_counts(set(experiment.splits.keys("train")))
    return {name: count for name, count in counts.items() if name in train_counts and count > train_counts[name]} or config.ratio


# The order is the report's, and --compare's training order (the baseline first: a curated arm needs its scores).
ARMS: dict[str, Arm] = {arm.name: arm for arm in (
    Arm("baseline", "no augmentation: the real training split as it is", real_training_split, in_study=True),
    Arm("classic", "classic augmentation: small rotations, shifts, zooms and contrast changes (Keras layers, training only)",
        real_training_split, augment=True, in_study=True),
    Arm("oversample", "random oversampling: real minority training images repeated up to the target", oversampled, in_study=True),
    Arm("class_weights", "class weights: the real training split, each class weighted n / (2 * n_class) in the loss",
        real_training_split, class_weights=True, in_study=True),
    Arm("gan", "GAN: the real training split plus synthetic minority images up to the target", synthetic_fill,
        needs_synthetic=True, in_study=True),
    Arm("gan_capped", "GAN, capped: as gan, but at most --synthetic-cap of a class synthetic; the rest of its gap repeats its real images",
        synthetic_capped, needs_synthetic=True, mixes_synthetic=True),
    Arm("gan_equal", "GAN, equal share: every class, the majority too, gets the same share of synthetic images (--equal-share), "
                     "real images repeated where a class has too few, so looking generated predicts no label",
        synthetic_equal, needs_synthetic=True, mixes_synthetic=True, every_class_synthetic=True),
    Arm("gan_finetune", "GAN then real: trained on the gan arm's training set, then fine-tuned on the real training split only "
                        f"(learning rate x {FINETUNE_LEARNING_RATE_FACTOR:g})",
        synthetic_fill, fine_tune_on_real=True, needs_synthetic=True),
    Arm("gan_class_weights", "GAN + class weights: the gan arm's training set, each class weighted n / (2 * n_class) by its count in it",
        synthetic_fill, class_weights=True, needs_synthetic=True),
    Arm("gan_curated", "GAN, curated: gan_equal's counts, each class's synthetic images the ones the same seed's baseline (real images "
                       "only) gives the highest probability of their class",
        synthetic_equal, needs_synthetic=True, mixes_synthetic=True, every_class_synthetic=True, curated_by_baseline=True,
        checked_by="gan_equal"),
)}

# The registry as this module defines it. A worker process (`--workers`) imports xgan afresh and knows these records
# only: an arm registered or replaced at run time (a notebook, a test) trains in the process that registered it.
_DEFINED_HERE = dict(ARMS)


def registered_at_run_time(names) -> list[str]:
    """The arms among `names` whose record is not the one this module defines (added or replaced after import)."""
    return [name for name in names if _DEFINED_HERE.get(name) is not ARMS.get(name)]


def get_arm(name: str) -> Arm:
    """The registered arm of that name.

    Raises:
        ValueError: no arm has that name.
    """
    if name not in ARMS:
        raise invalid_argument("arm", f"one of {', '.join(ARMS)}", name, error=ValueError)
    return ARMS[name]


def uses_synthetic(name: str) -> bool:
    """Whether the arm of that name trains on synthetic images (False for a name no arm has, as in an old report)."""
    arm = ARMS.get(name)
    return arm is not None and arm.needs_synthetic


def study_arm_names() -> tuple[str, ...]:
    """The arms `xgan run` compares without --conditional."""
    return tuple(arm.name for arm in ARMS.values() if arm.in_study)


def training_set(name: str, config, experiment, seed: int, curation: dict | None = None) -> tuple[LabeledImages, dict | None]:
    """The training images of an arm for one seed, and its class weights by label index (or None).

    Args:
        config: the ClassifyConfig (ratio, synthetic folders, shares).
        experiment: the shared data (`classifier.experiment.Experiment`).
        curation: for an arm curated by the baseline: a score per synthetic image path (`curate.curation_scores` with
            this seed's baseline); None chooses as without curation (how its inputs are checked before training).

    Raises:
        UserError: the arm's inputs are refused, or a GAN behind its synthetic images read a validation or test image.
    """
    arm = get_arm(name)
    images = arm.build(config, experiment, seed, curation)
    # Whatever its builder drew: no synthetic image of a GAN that read held-out images reaches training.
    check_no_leak(images.gan_runs, experiment.splits, experiment.dataset)
    if not arm.class_weights:
        return images, None
    counts = Counter(images.labels)
    weights = class_weights({name: counts[name] for name in experiment.class_names})
    return images, {index: weights[name] for index, name in weighted_classes(experiment)}


def weighted_classes(experiment) -> list[tuple[int, str]]:
    """(label index, class name) as the class weights are keyed: 1 positive and 0 negative, or each class's index."""
    if experiment.is_multiclass:
        return list(enumerate(experiment.class_names))
    return [(1, experiment.positive), (0, experiment.negative)]
