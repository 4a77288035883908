"""What a study will do, worked out and checked against the data in seconds, before anything long runs."""

import dataclasses
from pathlib import Path

from ..datasets.dataset import Dataset, load_dataset
from ..datasets.splits import Splits, cut_assignments, cut_class, resolve_splits
from ..errors import UserError, invalid_argument
from .config import MIN_SYNTHETIC, StudyConfig


@dataclasses.dataclass
class StudyPlan:
    """What a study will do, worked out before anything long runs.

    Attributes:
        dataset: the dataset (records only).
        base_splits: its splits before any cut.
        cut: the cut's assignments when the minority is cut, else None.
        class_name: the class the GAN learns and balancing adds to (with several, the smallest).
        train_counts: training images per class (after the cut).
        target: images per class after balancing to the ratio.
        num_needed: synthetic images the ratio needs.
        num_synthetic: synthetic images to sample (at least `num_needed`).
        size: image side of the GAN and the classifier.
        gan_classes: every class a GAN is trained for: `class_name` alone, or with three or more
            classes and no --class, every class the ratio adds images to (one GAN each).
    """

    dataset: Dataset
    base_splits: Splits
    cut: dict | None
    class_name: str
    train_counts: dict[str, int]
    target: dict[str, int]
    num_needed: int
    num_synthetic: int
    size: int
    gan_classes: list[str] = dataclasses.field(default_factory=list)


def plan_study(config: StudyConfig, minority_train: int | None = None) -> StudyPlan:
    """Check the data and every option against it, and work out the synthetic count, in seconds.

    Raises:
        UserError: bad data, a ratio that adds nothing or adds to another class than the GAN's, too few
            synthetic images asked for, an impossible cut.
    """
    from ..balance import resolve_target

    dataset = load_dataset(config.data)
    if config.external:  # a class the models will not know is refused before the GAN trains
        from ..classifier.external import load_external_sets, parse_externals

        load_external_sets(parse_externals(config.external), dataset.class_names, None)
    base = resolve_splits(dataset, Path(config.splits) if config.splits else None)
    assignments, cut = base.assignments, None
    if minority_train is not None:
        cut_class_name = cut_class(dataset.class_counts(set(base.keys("train"))), config.class_name)
        assignments = cut_assignments(dataset, base, minority_train, cut_class_name, config.seed)
        cut = {"class": cut_class_name, "num_train": minority_train}
    train_counts = dataset.class_counts({k for k, s in assignments.items() if s == "train"})
    target = resolve_target(train_counts, config.ratio)
    grown = [name for name in target if target[name] > train_counts[name]]
    class_name = cut_class(train_counts, config.class_name)
    gan_classes = [class_name]
    if len(train_counts) > 2 and config.class_name is None and grown:  # one GAN per class the ratio adds images to
        gan_classes = sorted(grown, key=lambda name: (train_counts[name], name))
        class_name = gan_classes[0]
    if grown != [class_name] and sorted(grown) != sorted(gan_classes):
        raise UserError(f"the ratio {config.ratio!r} adds images to class(es) {', '.join(grown)}, but the study's GAN learns class "
                        f"{class_name!r}; pass --class {grown[0]} or a ratio for {class_name}")
    # With several GANs each is sampled for the most any of them needs.
    num_needed = max(target[name] - train_counts[name] for name in gan_classes)
    if config.num_synthetic is not None and config.num_synthetic < num_needed:
        raise invalid_argument("num_synthetic", f"at least the {num_needed} synthetic images that ratio {config.ratio} needs ({train_counts[class_name]} -> {target[class_name]} {class_name})", received=f"num_synthetic={config.num_synthetic}")
    num_synthetic = config.num_synthetic or max(num_needed, MIN_SYNTHETIC)
    return StudyPlan(dataset, base, cut, class_name, train_counts, target, num_needed, num_synthetic,
                     config.size or default_study_size(dataset), gan_classes)


def default_study_size(dataset: Dataset) -> int:
    """32 px for data stored at 32 px or less (PneumoniaMNIST's 28), else 64: the GAN's sizes, never upsampling far."""
    largest = max((max(shape) for shape in dataset.original_shapes), default=64)
    return 32 if largest <= 32 else 64
