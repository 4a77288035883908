"""`xgan balance`: the real training split plus synthetic (or repeated) images, written as a manifest.

`BalanceConfig` holds the command's options; `run_balance` loads the dataset and its saved split,
builds the training set, optionally copies the synthetic images beside the manifest, writes the
manifest and a JSON record of how it was made, and returns a printable summary.
"""

import filecmp
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..datasets.dataset import Dataset, load_dataset
from ..errors import UserError, invalid_argument
from ..runs import atomic_path, write_json
from ..datasets.splits import Splits, default_splits_path, resolve_splits
from .builder import METHODS, build_training_set
from .manifest import TrainingRow, count_rows, write_training_manifest
from .report import summarize
from .strategy import DEFAULT_EQUAL_SHARE, MIXES, parse_target, resolve_mix, resolve_target, target_label

DEFAULT_OUT_DIR = Path("samples") / "balanced"


@dataclass
class BalanceConfig:
    """Options of `xgan balance`; CLI options map one to one onto these fields."""

    data: Path | None = None                  # dataset; None means the bundled covid_ccby set
    synthetic: tuple[Path, ...] = ()          # synthetic folders written by `xgan sample` (method gan)
    ratio: str = "auto"                       # "0.5", "1:2", "auto" or "covid=300,normal=413"
    method: str = "gan"                       # "gan": add synthetic images; "oversample": repeat real ones
    out: Path | None = None                   # manifest CSV; None: samples/balanced/<dataset>-<method>-<ratio>-seed<seed>.csv
    dry_run: bool = False                     # print the summary, write nothing
    copy: bool = False                        # copy the chosen synthetic PNGs beside the manifest
    overwrite: bool = False                   # replace an existing manifest
    seed: int = 0                             # which synthetic (or repeated) images are chosen
    splits: Path | None = None                # splits.json; None: the dataset's own
    mix: str = "fill"                         # "fill": synthetic images go to the classes below target; "equal": the same share in every class
    synthetic_share: float | None = None      # fill: the most synthetic share of a class (rest repeats real images); equal: the share (None: 0.5)
    curate: Path | None = None                # a real-only classifier (xgan classify's run folder): each class takes the synthetic images it scores best

    def __post_init__(self):
        self.synthetic = tuple(Path(p) for p in self.synthetic)
        parse_target(self.ratio)
        if self.mix not in MIXES:
            raise invalid_argument("mix", f"one of {', '.join(MIXES)}", self.mix)
        if self.method != "gan" and (self.mix != "fill" or self.synthetic_share is not None):
            raise UserError("--mix and --synthetic-share say how synthetic images are mixed in; method 'oversample' has none")
        if self.method not in METHODS:
            raise invalid_argument("method", f"one of {', '.join(METHODS)}", self.method)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise invalid_argument("seed", "a non-negative integer", self.seed)
        if self.method == "gan" and not self.synthetic:
            raise UserError("method 'gan' needs at least one synthetic folder: pass --synthetic DIR (written by `xgan sample`), or use --method oversample")
        if self.method == "oversample" and self.synthetic:
            raise UserError(f"method 'oversample' repeats real images and takes no --synthetic folder; received {self.synthetic[0]}")
        if self.curate is not None and self.method != "gan":
            raise UserError("--curate chooses synthetic images; method 'oversample' has none")
        if self.copy and self.method != "gan":
            raise UserError("--copy copies synthetic images; method 'oversample' has none to copy")
        if self.out is not None and Path(self.out).suffix.lower() != ".csv":
            raise invalid_argument("out", "a .csv file", str(self.out))


@dataclass
class BalanceResult:
    """What `run_balance` did: the rows, where they went, and the summary to print."""

    rows: list[TrainingRow]
    out: Path
    written: bool
    summary: str
    target: dict[str, int] = field(default_factory=dict)


def default_out(dataset: Dataset, config: BalanceConfig) -> Path:
    """`samples/balanced/<dataset>-<method>-<ratio>-seed<seed>.csv`."""
    mix = "" if config.mix == "fill" else f"-{config.mix}"
    share = "" if config.synthetic_share is None else f"-share{config.synthetic_share:g}"
    curated = "-curated" if config.curate is not None else ""
    return DEFAULT_OUT_DIR / f"{dataset.name}-{config.method}{mix}{share}{curated}-{target_label(config.ratio)}-seed{config.seed}.csv"


def run_balance(config: BalanceConfig, score_synthetic: Callable[[Dataset], dict] | None = None) -> BalanceResult:
    """Build the training set that `config` asks for and write its manifest (unless a dry run).

    Args:
        config: the command's options.
        score_synthetic: with `config.curate`, a function of the dataset that returns a score per synthetic
            image path (the CLI passes `classifier.curate.saved_curation_scores` for the --curate model).
            It is called after the cheap checks; balance itself imports no classifier.

    Raises:
        UserError: an existing manifest without `overwrite`, a dry run on a dataset whose split
            was never made, and everything `build_training_set` refuses.
    """
    dataset = load_dataset(config.data)
    splits_path = Path(config.splits) if config.splits else default_splits_path(dataset)
    if config.dry_run and not splits_path.exists():
        raise UserError(f"{splits_path}: no saved split yet, and a dry run writes nothing; make it with `xgan info` (or the GAN run) first")
    splits = resolve_splits(dataset, splits_path)
    out = Path(config.out) if config.out else default_out(dataset, config)
    if out.exists() and not config.overwrite and not config.dry_run:
        raise UserError(f"{out}: a training manifest already exists; pass --overwrite to replace it, or --out another file")
    scores = None
    if config.curate is not None:
        if score_synthetic is None:
            raise invalid_argument("score_synthetic", "a function that scores the synthetic images when `curate` is set", None)
        scores = score_synthetic(dataset)
    rows = build_training_set(dataset, splits, config.ratio, method=config.method,
                              synthetic_dirs=config.synthetic, seed=config.seed, mix=config.mix,
                              synthetic_share=config.synthetic_share, synthetic_scores=scores)
    train_counts = dataset.class_counts(set(splits.keys("train")))
    target = resolve_target(train_counts, config.ratio)
    if config.method == "gan":
        plan = resolve_mix(train_counts, config.ratio, config.mix, config.synthetic_share)
        target = {name: sum(parts.values()) for name, parts in plan.items()}
    if not config.dry_run:
        if config.copy:
            rows = copy_synthetic(rows, out.with_suffix(""))
        write_training_manifest(out, rows)
        write_json(out.with_suffix(".json"), _record(config, dataset, splits, target, rows, out))
    summary = _summary(config, dataset, splits, target, rows, out)
    return BalanceResult(rows, out, not config.dry_run, summary, target)


def copy_synthetic(rows: list[TrainingRow], folder: Path) -> list[TrainingRow]:
    """Copy every synthetic row's PNG into `folder/<class>/`, atomically, and point the rows there.

    A file already there with the same bytes is kept (a rerun); one with other bytes is never
    overwritten.

    Raises:
        UserError: a different file already has the name a copy needs.
    """
    copied = []
    for row in rows:
        if row.origin != "synthetic":
            copied.append(row)
            continue
        # The run and file names say where the image came from; the hash of its source path keeps
        # two folders' same-named files apart.
        source_hash = hashlib.blake2b(str(row.path).encode(), digest_size=4).hexdigest()
        name = f"{_slug(row.run.name if row.run else 'run')}-{_slug(row.path.stem)}-{source_hash}{row.path.suffix}"
        destination = folder / row.label / name
        if destination.exists():
            if not filecmp.cmp(row.path, destination, shallow=False):
                raise UserError(f"{destination}: exists with other content; refusing to overwrite it (remove it or choose another --out)")
        else:
            with atomic_path(destination) as temporary:
                shutil.copyfile(row.path, temporary)
        copied.append(TrainingRow(destination, row.key, row.label, row.origin, row.run, row.seed))
    return copied


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in text)


def _record(config: BalanceConfig, dataset: Dataset, splits: Splits, target: dict[str, int],
            rows: list[TrainingRow], out: Path) -> dict:
    options = {k: (str(v) if isinstance(v, Path) else [str(p) for p in v] if isinstance(v, tuple) else v)
               for k, v in asdict(config).items()}
    return {
        "manifest": out.name, "dataset": str(dataset.source), "dataset_name": dataset.name,
        "dataset_fingerprint": dataset.fingerprint, "splits": str(splits.path),
        "target": target_label(config.ratio), "target_counts": target, "options": options,
        "counts": count_rows(rows),
    }


def _summary(config: BalanceConfig, dataset: Dataset, splits: Splits, target: dict[str, int],
             rows: list[TrainingRow], out: Path) -> str:
    counts = dataset.class_counts(set(splits.keys("train")))
    change = ", ".join(f"{name} {counts[name]} -> {target[name]}" for name in dataset.class_names)
    held_out = f"{len(splits.keys('val'))} validation and {len(splits.keys('test'))} test"
    lines = [
        f"dataset   {dataset.name} ({dataset.source}, fingerprint {dataset.fingerprint})",
        f"splits    {splits.path}",
        f"target    {target_label(config.ratio)} (method {config.method}{_mix_words(config)}, seed {config.seed}): {change}",
        summarize(rows),
        f"training rows only: the {held_out} images are not in this manifest and receive no synthetic image",
    ]
    synthetic = [row for row in rows if row.origin == "synthetic"]
    if synthetic:
        runs = sorted({str(row.run) for row in synthetic})
        lines.append(f"synthetic {len(synthetic)} image(s) from {len(config.synthetic)} folder(s), GAN run(s) {', '.join(runs)}")
        if config.curate is not None:
            lines.append(f"curated   each class's synthetic images are the ones {config.curate} gives the highest probability of their class")
    if config.dry_run:
        exists = " (exists: --overwrite needed)" if out.exists() and not config.overwrite else ""
        lines.append(f"dry run   nothing written; would write {out}{exists}")
    else:
        copied = f", synthetic images copied to {out.with_suffix('')}" if config.copy else ""
        lines.append(f"wrote     {out} and {out.with_suffix('.json').name}{copied}")
    return "\n".join(lines)


def _mix_words(config: BalanceConfig) -> str:
    if config.method != "gan":
        return ""
    if config.mix == "equal":
        share = DEFAULT_EQUAL_SHARE if config.synthetic_share is None else config.synthetic_share
        return f", mix equal: {share:g} of every class synthetic"
    return "" if config.synthetic_share is None else f", synthetic share capped at {config.synthetic_share:g}"
