"""Text summaries of a dataset and its splits, for `xgan info` and run reports."""

from collections import Counter
from pathlib import Path

from .dataset import Dataset, load_dataset
from .splits import EXCLUDED, SPLIT_NAMES, Splits, resolve_splits


def dataset_summary(source: Path | None, splits_file: Path | None = None, split_seed: int | None = None,
                    minority_train: int | None = None, minority_class: str | None = None, cut_seed: int = 0) -> str:
    """Load a dataset and its splits (cut to `minority_train` training images of one class when given) and describe them."""
    dataset = load_dataset(source)
    splits = resolve_splits(dataset, splits_file, split_seed, minority_train=minority_train, minority_class=minority_class,
                            cut_seed=cut_seed)
    return format_summary(dataset, splits)


def format_summary(dataset: Dataset, splits: Splits) -> str:
    """Class counts, minority class, imbalance ratio, image sizes and split sizes, as text."""
    counts = dataset.class_counts()
    width = max(len(name) for name in dataset.class_names)
    lines = [f"dataset   {dataset.source} ({dataset.kind}, {len(dataset.records)} images)"]
    for name in dataset.class_names:
        lines.append(f"  {name:<{width}}  {counts[name]:>6}")
    lines.append(f"minority  {dataset.minority_class} (imbalance {dataset.imbalance_ratio:.2f}:1)")
    shapes = Counter(f"{w}x{h}" for h, w in dataset.original_shapes)
    common = ", ".join(f"{s} ({n})" for s, n in shapes.most_common(3))
    more = f", +{len(shapes) - 3} other sizes" if len(shapes) > 3 else ""
    lines.append(f"sizes     {common}{more}")
    if dataset.skipped:
        lines.append(f"skipped   {len(dataset.skipped)} unreadable file(s), e.g. {dataset.skipped[0][0]}: {dataset.skipped[0][1]}")
    header = "  ".join(f"{name:>{max(len(name), 6)}}" for name in dataset.class_names)
    lines.append(f"splits    {splits.path} (seed {splits.seed}, grouped by {splits.grouped_by or 'file'})")
    if splits.cut:
        cut = splits.cut
        lines.append(f"cut       {cut['kept']} of {cut['available']} training images of {cut['class']} kept (seed {cut['seed']}); "
                     "the rest excluded; val and test untouched")
    lines.append(f"  {'':<8}  {header}")
    for split in (*SPLIT_NAMES, EXCLUDED):
        keys = set(splits.keys(split))
        if not keys and split == EXCLUDED:
            continue
        per_class = dataset.class_counts(keys)
        row = "  ".join(f"{per_class[name]:>{max(len(name), 6)}}" for name in dataset.class_names)
        lines.append(f"  {split:<8}  {row}")
    return "\n".join(lines)
