"""`xgan quality`: gather the image sets, extract features, compute every metric, write the report.

`assess_quality` writes a full report for one set of synthetic images; `select_checkpoint` scores a
run's checkpoints by KID. Both take a `QualityConfig`; `run_quality` picks between them.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import UserError
from ..progress import progress_bar
from .compare import compare_feature_sets
from .config import QualityConfig
from .features import (ClassifierFeatures, InceptionFeatures, PixelFeatures, fit_classifier_features,
                       load_classifier_features)
from .figures import (plot_checkpoint_kid, plot_closest_pairs, plot_feature_spaces, plot_nearest_correlations,
                      plot_sample_grid)
from .inputs import (RealReference, RunInfo, all_training_images, load_reference, load_synthetic_images, read_run,
                     run_of_folder)
from .memorization import find_memorization
from .realism import describe_gap
from .report import REPORT_JSON, SELECTION_JSON, write_report, write_selection
from .telltales import describe_telltales, telltale_statistics
from .selection import recommend_checkpoint, resolve_checkpoints, sample_command, score_checkpoints

log = logging.getLogger("xgan")

QUALITY_FOLDER = "quality"
FEATURE_CLASSIFIER_FOLDER = "feature_classifier"
# Memorization's feature distances use the most meaningful space available.
FEATURE_PREFERENCE = ("classifier", "inception", "pixels")


@dataclass
class QualityOutcome:
    """What a quality command wrote, and the lines to print."""

    out_dir: Path
    files: list[Path]
    summary: list[str]
    warnings: list[str] = field(default_factory=list)


def output_folder(config: QualityConfig, marker: str) -> Path:
    """The report folder: `--out`, else `<run>/quality` or `<synthetic folder>/quality`.

    Raises:
        UserError: the folder already holds `marker` (a finished report) and overwrite is off.
    """
    if config.out:
        out_dir = Path(config.out)
    elif config.synthetic:
        out_dir = Path(config.synthetic) / QUALITY_FOLDER
    else:
        out_dir = Path(config.run) / QUALITY_FOLDER
    if (out_dir / marker).exists() and not config.overwrite:
        raise UserError(f"{out_dir / marker}: a report is already there; pass --overwrite to replace it or --out for another folder")
    return out_dir


def run_quality(config: QualityConfig) -> QualityOutcome:
    """Checkpoint selection when `config.checkpoints` is set, else a full quality report."""
    return select_checkpoint(config) if config.checkpoints else assess_quality(config)


def _synthetic_images(config: QualityConfig) -> tuple[np.ndarray, list[str], dict, RunInfo | None, set[str]]:
    """Synthetic images, their names, their provenance, the GAN run (when known) and claimed fingerprints."""
    if config.synthetic:
        folder, images = load_synthetic_images(Path(config.synthetic), config.class_name)
        run_path = Path(config.run) if config.run else run_of_folder(folder)
        run = read_run(run_path) if run_path else None
        provenance = {"source": "folder", "folder": str(folder.path), "num_images": len(images),
                      "run": str(run.path) if run else None, "checkpoints": folder.checkpoints,
                      "labels": folder.labels}
        if len(folder.labels) > 1 and not config.class_name:
            raise UserError(f"{folder.path}: holds images of classes {', '.join(folder.labels)}; pass --class to pick one")
        return images, [image.name for image in folder.images], provenance, run, set(folder.fingerprints)
    run = read_run(Path(config.run))
    from ..gan import generate_images, load_generator

    generator, info = load_generator(run.path, config.checkpoint, run.class_to_draw(config.class_name))
    images = generate_images(generator, config.num_images, config.seed, info["latent_dim"])
    provenance = {"source": "run", "run": str(run.path), "checkpoint": info.get("checkpoint"),
                  "checkpoint_step": info.get("step"), "seed": config.seed, "num_images": len(images)}
    return images, [f"#{i}" for i in range(len(images))], provenance, run, set()


def gan_run_problems(run: RunInfo | None) -> list[str]:
    """The failures the GAN run recorded (diverged, discriminator winning, collapsed), as report warnings."""
    if run is None:
        return []
    from ..gan import training_problems

    return [f"the GAN run {run.path} has probably failed: {problem}" for problem in training_problems(run.path)]


def _class_name(config: QualityConfig, run: RunInfo | None, labels: list[str]) -> str:
    if config.class_name:
        return config.class_name
    if run is not None and run.class_name:
        return run.class_name
    if len(labels) == 1:
        return labels[0]
    raise UserError("no class to compare with: pass --class (the synthetic folder has no manifest label and no GAN run)")


def _reference(config: QualityConfig, run: RunInfo | None, class_name: str, image_size: int,
               fingerprints: set[str]) -> RealReference:
    source = config.data or (run.dataset if run else None)
    splits = config.splits or (run.splits if run and run.splits and Path(run.splits).is_file() else None)
    return load_reference(source, splits, class_name, image_size, run=run, fingerprints=fingerprints)


def build_extractor(kind: str, config: QualityConfig, reference: RealReference, out_dir: Path):
    """One feature extractor; for "classifier", trains (and saves) one unless `features_model` is given."""
    if kind == "pixels":
        return PixelFeatures()
    if kind == "inception":
        return InceptionFeatures(Path(config.inception_weights), config.inception_size)
    if config.features_model:
        return load_classifier_features(Path(config.features_model))
    return _train_feature_classifier(config, reference, out_dir)


def _train_feature_classifier(config: QualityConfig, reference: RealReference, out_dir: Path) -> ClassifierFeatures:
    dataset = reference.dataset
    from ..classifier.config import ClassifierConfig
    from ..classifier.saving import save_classifier

    images, labels, validation = all_training_images(reference)
    extractor = fit_classifier_features(images, labels, dataset.class_names, epochs=config.features_epochs,
                                        seed=config.seed, validation=validation)
    classifier_config = ClassifierConfig(image_size=int(images.shape[1]), epochs=config.features_epochs,
                                         seed=config.seed, class_names=dataset.class_names,
                                         # three or more classes: a softmax over them, no positive class
                                         positive_class=dataset.class_names[1] if len(dataset.class_names) == 2 else None)
    saved = save_classifier(out_dir / FEATURE_CLASSIFIER_FOLDER, extractor.model, classifier_config,
                            purpose="feature extractor for xgan quality", dataset=str(dataset.source),
                            dataset_fingerprint=dataset.fingerprint, splits=str(reference.splits.path))
    extractor.description += f"; saved as {FEATURE_CLASSIFIER_FOLDER}/{saved.name} (reuse with --features-model)"
    return extractor


def assess_quality(config: QualityConfig) -> QualityOutcome:
    """Compare synthetic images with the real training images of their class and write the report.

    Returns:
        The output folder, the files written and summary lines.

    Raises:
        UserError: bad inputs (see `read_run`, `load_synthetic_images`, `load_reference`), or an
            existing report without `overwrite`.
    """
    started = time.perf_counter()
    out_dir = output_folder(config, REPORT_JSON)
    synthetic, names, provenance, run, fingerprints = _synthetic_images(config)
    class_name = _class_name(config, run, provenance.get("labels", []))
    reference = _reference(config, run, class_name, int(synthetic.shape[1]), fingerprints)
    real_images, val_images = reference.train_images, reference.val_images
    out_dir.mkdir(parents=True, exist_ok=True)
    # Steps: an extractor, its features and its metrics per feature space, then memorization and figures.
    bar = progress_bar(3 * len(config.features) + 2, "quality", "step")
    extractors = {}
    for kind in config.features:
        bar.set_description(f"quality: {kind} features")
        extractor = build_extractor(kind, config, reference, out_dir)
        extractors[extractor.name] = extractor
        bar.update(1)
    features, timings = {}, {}
    for name, extractor in extractors.items():
        began = time.perf_counter()
        features[name] = {"real": extractor(real_images), "synthetic": extractor(synthetic),
                          "val": extractor(val_images) if len(val_images) else None}
        timings[f"features_{name}"] = time.perf_counter() - began
        bar.update(1)
    metrics = {}
    for name, sets in features.items():
        bar.set_description(f"quality: metrics in {name}")
        metrics[name] = {"description": extractors[name].description,
                         **compare_feature_sets(sets["real"], sets["synthetic"], sets["val"],
                                                neighbours=config.neighbours, kid_subsets=config.kid_subsets,
                                                kid_subset_size=config.kid_subset_size, num_folds=config.num_folds,
                                                seed=config.seed)}
        bar.update(1)
    bar.set_description("quality: memorization")
    primary = next(name for kind in FEATURE_PREFERENCE for name in features if name.startswith(kind))
    memorization = find_memorization(synthetic, real_images, reference.train_keys, threshold=config.copy_threshold,
                                     synthetic_features=features[primary]["synthetic"],
                                     real_features=features[primary]["real"], feature_name=primary,
                                     synthetic_names=names)
    pairs = [{"synthetic_index": int(i), "synthetic_name": names[i], "real_index": int(memorization.nearest_index[i]),
              "training_key": memorization.nearest_key[i], "correlation": float(memorization.nearest_correlation[i])}
             for i in memorization.closest_pairs(config.num_pairs)]
    bar.update(1)
    bar.set_description("quality: figures")
    figures = [
        plot_closest_pairs(out_dir / "closest_pairs.png", pairs, synthetic, real_images, config.copy_threshold),
        plot_nearest_correlations(out_dir / "nearest_correlation.png", memorization.nearest_correlation,
                                  memorization.real_nearest_correlation, config.copy_threshold),
        plot_feature_spaces(out_dir / "feature_spaces.png", features),
        plot_sample_grid(out_dir / "samples.png", real_images, synthetic, seed=config.seed),
    ]
    bar.update(1)
    bar.close()
    warnings = [memorization.warning] if memorization.warning else []
    for name, values in metrics.items():
        pr = values["precision_recall"]
        if pr and pr["recall"] < 0.2:
            warnings.append(f"recall {pr['recall']:.2f} in {name} features: the synthetic images cover little of "
                            "the real variety (mode collapse likely)")
    warnings += gan_run_problems(run)
    if len(real_images) < 50:
        warnings.append(f"only {len(real_images)} real training images of class '{class_name}': every metric has "
                        "wide error bars")
    memorization_summary = memorization.summary()
    memorization_summary["closest_pairs"] = pairs
    held_out = {name: values["val"]["held_out"] for name, values in metrics.items() if values["val"]}
    telltales = telltale_statistics(real_images, synthetic, val_images) if len(val_images) >= 2 else None
    if not held_out:
        warnings.append(f"fewer than 2 validation images of class '{class_name}': no held-out realism measure "
                        "(the synthetic images are compared with the GAN's own training images only)")
    timings["total"] = time.perf_counter() - started
    report = {
        "xgan_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "synthetic": provenance,
        "reference": {"class_name": class_name, "dataset": str(reference.dataset.source),
                      "fingerprint": reference.dataset.fingerprint, "splits": str(reference.splits.path),
                      "image_size": int(synthetic.shape[1]), "num_train": len(real_images),
                      "num_val": len(val_images), "note": reference.reference_note},
        "primary_features": primary,
        "held_out": held_out,
        "telltales": telltales,
        "features": metrics,
        "memorization": memorization_summary,
        "warnings": warnings,
        "figures": [path.name for path in figures],
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
    json_path, markdown_path = write_report(out_dir, report)
    summary = [f"compared {len(synthetic)} synthetic with {len(real_images)} real training '{class_name}' images "
               f"({int(synthetic.shape[1])} px)"]
    for name, values in metrics.items():
        pr, two = values["precision_recall"], values["two_sample"]
        summary.append(f"{name:>10}: KID x1000 {1000 * values['kid']['mean']:.2f} +- {1000 * values['kid']['std']:.2f}"
                       + (f", precision {pr['precision']:.2f}, recall {pr['recall']:.2f}" if pr else "")
                       + (f", two-sample AUC {two['auc']:.2f}" if two else ""))
    for name, gap in held_out.items():
        pr = metrics[name]["val"]["precision_recall_synthetic_vs_val"]
        summary.append(f"{name:>10}: {describe_gap(name, gap)}"
                       + (f"; against unseen: precision {pr['precision']:.2f}, recall {pr['recall']:.2f}" if pr else ""))
    if telltales is not None:
        summary.append(describe_telltales(telltales))
    summary.append(f"memorization: {memorization_summary['num_near_copies']} near copies (r >= {config.copy_threshold}), "
                   f"max r = {memorization_summary['max_correlation']:.3f}")
    summary.append(f"report: {markdown_path}")
    return QualityOutcome(out_dir, [json_path, markdown_path, *figures], summary, warnings)


def select_checkpoint(config: QualityConfig) -> QualityOutcome:
    """Score the run's checkpoints in the first feature space asked for and recommend one.

    With validation images of the class, by the held-out gap (and KID against those unseen images);
    without, by KID against the GAN's training images.
    """
    from ..gan import list_checkpoints

    out_dir = output_folder(config, SELECTION_JSON)
    run = read_run(Path(config.run))
    checkpoints = resolve_checkpoints(config.checkpoints, list_checkpoints(run.path))
    from ..gan import load_generator

    _, info = load_generator(run.path, checkpoints[0], run.class_to_draw(config.class_name))
    image_size = int(info["image_size"])
    class_name = _class_name(config, run, [])
    reference = _reference(config, run, class_name, image_size, set())
    out_dir.mkdir(parents=True, exist_ok=True)
    extractor = build_extractor(config.features[0], config, reference, out_dir)
    name = extractor.name
    real_features = extractor(reference.train_images)
    val_images = reference.val_images
    unseen_features = extractor(val_images) if len(val_images) >= 2 else None
    scores = score_checkpoints(run.path, checkpoints, real_features, extractor, num_images=config.num_images,
                               seed=config.seed, kid_subsets=config.kid_subsets, kid_subset_size=config.kid_subset_size,
                               class_name=run.class_to_draw(class_name), unseen_features=unseen_features,
                               num_folds=config.num_folds)
    best, reason = recommend_checkpoint(scores)
    command = sample_command(run.path, best.checkpoint, run.class_to_draw(class_name))
    selection = {
        "xgan_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(), "run": str(run.path), "class_name": class_name,
        "num_images": config.num_images, "seed": config.seed, "feature_name": name,
        "feature_description": extractor.description, "reference_note": reference.reference_note,
        "num_unseen": 0 if unseen_features is None else len(unseen_features),
        "scores": [score.to_dict(name) for score in scores],
        "recommended": best.checkpoint, "recommended_step": best.step, "reason": reason, "sample_command": command,
        "warnings": gan_run_problems(run),
    }
    json_path, markdown_path = write_selection(out_dir, selection)
    figure = plot_checkpoint_kid(out_dir / "checkpoint_kid.png", selection["scores"], best.checkpoint)
    summary = [f"{score.checkpoint:>20} (step {score.step:>6}): KID x1000 {1000 * score.kid.mean:.2f} +- "
               f"{1000 * score.kid.std:.2f}" + (f", held-out gap {score.held_out['gap']:+.2f} (AUC "
                                                f"{score.held_out['synthetic_auc']:.2f}, floor {score.held_out['floor_auc']:.2f})"
                                                if score.held_out else "") for score in scores]
    summary += [f"recommended: {reason}", f"sample from it: {command}", f"report: {markdown_path}"]
    return QualityOutcome(out_dir, [json_path, markdown_path, figure], summary, selection["warnings"])
