"""Where a classifier looks: Grad-CAM maps, the share of their mass in the image's border, and overlays.

Grad-CAM (Selvaraju et al. 2017) weighs the last convolution block's feature maps by the gradient of the
called class's score (before the sigmoid or softmax) and keeps the positive part of their sum, upsampled
to the image: where the evidence for the call lies. Grad-CAM averages each map's gradient over space
before weighing; this CNN flattens its last block into dense layers, so each location has its own
weights, and the average erases local evidence: on a model that reads a bright corner marker, every
averaged map of a marked film came out negative (empty after the ReLU). The gradient is therefore taken
element-wise (HiResCAM, Draelos & Carin 2020), which equals Grad-CAM for a globally pooled head (a
keras.applications backbone) and shows exactly what a flattening head adds up. The called class is the
most probable one of a softmax model, and for a binary model the class called at its stored threshold,
so a film called negative shows the evidence for negative.

One number flags shortcuts: the share of the map's mass in the outer 10% border of the image, where a
radiograph holds side markers, burned-in text, rulers and collimation edges but no lung. A map spread
evenly would put 1 - 0.8^2 = 36% there; a model reading a corner marker puts far more.
"""

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, invalid_argument
from ..runs import atomic_path, new_run_dir, write_json

log = logging.getLogger("xgan")

BORDER_FRACTION = 0.1  # the outer 10% of each side
UNIFORM_BORDER_SHARE = 1 - (1 - 2 * BORDER_FRACTION) ** 2  # the share of a map spread evenly: 0.36
GRADCAM_FILE = "gradcam.png"  # the comparison's figure: each arm's maps on the same test films
POOLING_LAYERS = ("MaxPooling2D", "AveragePooling2D")
FLATTENING_LAYERS = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Reshape")


def last_convolution_layer(model):
    """The layer whose feature maps Grad-CAM weighs: the last one with a 4-D output before the model flattens or pools
    globally, pooling layers passed over (they only coarsen the same maps). Found by shape, never by name, so a
    keras.applications backbone (a nested model with a 4-D output) serves as well as the project's own blocks.

    Raises:
        ValueError: a model without a 4-D layer before its flattening.
    """
    found = None
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in FLATTENING_LAYERS and found is not None:
            break
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) == 4 and kind not in POOLING_LAYERS and kind != "InputLayer":
            found = layer
    if found is None:
        raise invalid_argument("model", "a convolutional model (a layer with a 4-D output before its flattening)", received=f"model {model.name!r}",
                               error=ValueError)
    return found


def _feature_tensor(model):
    """The outer model's tensor of the feature maps Grad-CAM weighs (`last_convolution_layer`'s output)."""
    import keras

    layer = last_convolution_layer(model)
    if isinstance(layer, keras.Model):
        # A nested backbone (`--backbone`): its own `output` lives in its own graph; the outer model's tensor is what
        # the next layer (its global pooling) reads.
        return model.layers[model.layers.index(layer) + 1].input
    return layer.output


def has_location(model) -> bool:
    """Whether the feature maps Grad-CAM weighs have more than one place. A keras.applications backbone reduces its
    input 32 times, so at 32 px (`--size auto` on 28 px data) its last block is 1 x 1: the map is one value spread
    evenly over the film, and its border share (the even map's, always) says nothing about where the model looks."""
    height, width = _feature_tensor(model).shape[1:3]
    return height * width > 1


NO_LOCATION = ("the last feature map is 1 x 1 at this size, so Grad-CAM has no location (one value spread evenly) and no "
               "border share; a larger --size gives the backbone's last block places to tell apart")


def gradcam(model, images: np.ndarray, threshold: float | None = 0.5, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grad-CAM maps of the called class for (N, S, S) uint8 images.

    Args:
        threshold: a binary model's decision threshold (the positive class is called at or above it);
            unused for a softmax model.

    Returns:
        (maps (N, S, S) float32 in [0, 1], each scaled to its maximum (all zero where no evidence is positive),
        called class index per image (binary: 1 positive, 0 negative), probability of the called class per image).
    """
    import keras
    import tensorflow as tf

    from .train import to_model_input

    head = model.layers[-1]
    # The class score before the output's sigmoid or softmax: a saturated probability (a model sure of a film) has a
    # gradient that underflows to zero, and its map would be empty. A Dense output layer is undone by hand.
    logits = isinstance(head, keras.layers.Dense) and getattr(head.activation, "__name__", "") in ("sigmoid", "softmax")
    features = _feature_tensor(model)
    probe = keras.Model(model.inputs, [features, head.input if logits else model.output, model.output], name="gradcam_probe")
    size = images.shape[1:3]
    maps, called, scores = [], [], []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(to_model_input(images[start:start + batch_size]))
        with tf.GradientTape() as tape:
            features, before_head, outputs = probe(batch, training=False)
            outputs = tf.cast(outputs, tf.float32)
            raw = (tf.matmul(tf.cast(before_head, tf.float32), tf.cast(head.kernel, tf.float32)) + tf.cast(head.bias, tf.float32)
                   if logits else outputs)
            if outputs.shape[-1] == 1:
                positive = outputs[:, 0]
                is_positive = positive >= (0.5 if threshold is None else threshold)
                index = tf.cast(is_positive, tf.int64)
                score = tf.where(is_positive, positive, 1 - positive)
                target = tf.where(is_positive, raw[:, 0], -raw[:, 0]) if logits else score
            else:
                index = tf.argmax(outputs, axis=-1)
                score = tf.gather(outputs, index, batch_dims=1)
                target = tf.gather(raw, index, batch_dims=1)
        gradients = tape.gradient(target, features)
        features, gradients = tf.cast(features, tf.float32), tf.cast(gradients, tf.float32)
        # Each location's own gradient weighs its features (HiResCAM): Grad-CAM's gradients averaged over space first.
        cam = tf.nn.relu(tf.reduce_sum(features * gradients, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, size, method="bilinear")[..., 0].numpy()
        peak = cam.reshape(len(cam), -1).max(axis=1)
        maps.append(np.where(peak[:, None, None] > 0, cam / np.maximum(peak, 1e-12)[:, None, None], 0).astype(np.float32))
        called.append(index.numpy())
        scores.append(score.numpy().astype(np.float64))
    if not maps:
        return np.zeros((0, *size), np.float32), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(maps), np.concatenate(called), np.concatenate(scores)


def border_share(maps: np.ndarray, fraction: float = BORDER_FRACTION) -> np.ndarray:
    """The share of each map's mass in the outer `fraction` of every side, (N,); NaN for a map without mass.

    The border is `round(fraction * side)` pixels wide (at least one).
    """
    maps = np.asarray(maps, np.float64)
    height, width = maps.shape[1:3]
    rows, columns = max(1, round(fraction * height)), max(1, round(fraction * width))
    inner = np.zeros((height, width), bool)
    inner[rows:height - rows, columns:width - columns] = True
    total = maps.sum(axis=(1, 2))
    border = total - maps[:, inner].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, border / total, math.nan)


def _overlay(axis, image: np.ndarray, heatmap: np.ndarray, title: str) -> None:
    axis.imshow(image, cmap="gray", vmin=0, vmax=255)
    axis.imshow(heatmap, cmap="jet", alpha=0.4, vmin=0, vmax=1)
    axis.set_title(title, fontsize=8)
    axis.axis("off")


def _save_figure(figure, path: Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")


@dataclass
class ExplainResult:
    """The overlays written and one line per image."""

    out: Path
    files: list[Path]
    summary: str


def explain_images(model_path, paths, out: Path | None = None, parent: Path = Path("samples"), overwrite: bool = False) -> ExplainResult:
    """Write a Grad-CAM overlay PNG per image (`<name>_gradcam.png`) and explain.json, for one saved classifier.

    Args:
        model_path: a classifier run folder or its model.keras.
        paths: image files.
        out: the folder to write into; None makes a new `parent/NNNNN-explain/`.
        overwrite: replace overlays already in `out` (refused otherwise, before anything is written).

    Raises:
        UserError: no image, a bad image, a missing model, or existing overlays without `overwrite`.
    """
    import keras

    from .predict import read_images
    from .saving import load_classifier, load_classifier_config, model_files
    from .threshold import stored_threshold

    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no image given; pass one or more image files")
    model_file, _ = model_files(model_path)
    config, details = load_classifier_config(model_file)
    images = read_images(paths, config.image_size)
    names, taken = [], set()
    for path in paths:
        name, number = f"{path.stem}_gradcam.png", 2
        while name in taken:  # two images of one name from different folders
            name, number = f"{path.stem}_{number}_gradcam.png", number + 1
        taken.add(name)
        names.append(name)
    if out is not None:
        existing = [Path(out) / name for name in [*names, "explain.json"] if (Path(out) / name).exists()]
        if existing and not overwrite:
            raise UserError(f"{existing[0]}: exists; pass --overwrite to replace it, or choose another --out")
    threshold = None if config.is_multiclass else stored_threshold(details)["threshold"]
    model = load_classifier(model_file)
    layer = last_convolution_layer(model).name
    located = has_location(model)
    maps, called, scores = gradcam(model, images, threshold)
    keras.backend.clear_session()
    classes = list(config.class_names) if config.is_multiclass else [config.negative_class, config.positive_class]
    shares = border_share(maps) if located else np.full(len(maps), math.nan)
    out = Path(out) if out is not None else new_run_dir(parent, "explain")
    out.mkdir(parents=True, exist_ok=True)
    from matplotlib.figure import Figure

    rows, files = [], []
    for path, name, image, heatmap, index, score, share in zip(paths, names, images, maps, called, scores, shares):
        figure = Figure(figsize=(3.2, 3.4))
        _overlay(figure.subplots(), image, heatmap, f"{classes[index]} {score:.2f}; border share {'n/a' if math.isnan(share) else format(share, '.2f')}")
        _save_figure(figure, out / name)
        files.append(out / name)
        rows.append({"image": str(path), "overlay": name, "called": classes[index], "probability": float(score),
                     "border_share": None if math.isnan(share) else float(share)})
    write_json(out / "explain.json", {"model": str(model_file), "layer": layer, "location": located,
                                      "threshold": threshold, "border_fraction": BORDER_FRACTION,
                                      "uniform_border_share": UNIFORM_BORDER_SHARE, "images": rows})
    width = max(len(str(p)) for p in paths)
    lines = [f"{str(row['image']):<{width}}  {row['called']}  {row['probability']:.3f}  border share "
             f"{'n/a' if row['border_share'] is None else format(row['border_share'], '.2f')}  -> {row['overlay']}" for row in rows]
    lines.append(f"Grad-CAM of the called class; border share: the map's mass in the outer {BORDER_FRACTION:.0%} of the image "
                 f"(an even map: {UNIFORM_BORDER_SHARE:.2f}); wrote {out}")
    if not located:
        lines.insert(-1, f"layer {layer}: {NO_LOCATION}")
    return ExplainResult(out, files, "\n".join(lines))


MAX_SCORED_IMAGES = 500  # test images per model for the border share (a fixed seeded subset of a larger split)


def choose_films(y_true: np.ndarray, right: np.ndarray, num_classes: int, seed: int = 0) -> list[tuple[int, str]]:
    """The fixed handful of test films every arm is shown on: per class, one the reference model called right and one it
    called wrong (where it has one), the first of each in a seeded order. Returns (test index, "right" or "wrong") pairs."""
    order = np.random.default_rng(seed).permutation(len(y_true))
    films = []
    for index in range(num_classes):
        for wanted, word in ((True, "right"), (False, "wrong")):
            match = next((int(i) for i in order if y_true[i] == index and bool(right[i]) == wanted), None)
            if match is not None:
                films.append((match, word))
    return films


@dataclass
class GradcamPlan:
    """What every model of a comparison is explained on: the films of the figure and the images of the border share."""

    reference: object  # the ArmRun whose calls chose the films
    films: list  # (test index, "right" or "wrong") pairs, `choose_films`
    scored: np.ndarray  # the test indices of the border share
    images: np.ndarray  # their pixels
    film_images: np.ndarray


def gradcam_plan(runs, experiment, seed: int = 0, baseline: str = "baseline") -> GradcamPlan:
    """The films (chosen by the baseline's first seed: per class one it called right and one wrong) and the seeded subset
    of test images every model of `runs` is explained on."""
    arms = list(dict.fromkeys(run.arm for run in runs))
    first = {arm: min((r for r in runs if r.arm == arm), key=lambda r: r.seed) for arm in arms}
    reference = first.get(baseline, first[arms[0]])
    films = reference_films(reference, experiment, seed)
    scored = scored_test_indices(len(experiment.test), seed)
    images = np.asarray(experiment.test.images[scored])
    return GradcamPlan(reference, films, scored, images, film_images(experiment, films))


def reference_arm(arms: list[str], baseline: str = "baseline") -> str:
    """The arm whose first seed chooses the films of `gradcam_plan`: the baseline, else the first arm."""
    return baseline if baseline in arms else arms[0]


def reference_films(reference, experiment, seed: int = 0) -> list[tuple[int, str]]:
    """`choose_films` by the calls of the run `reference` (an ArmRun) on the test split."""
    from .compare import correct_calls, test_targets

    y_true = test_targets(experiment)
    classes = experiment.class_names if experiment.positive is None else [experiment.negative, experiment.positive]
    return choose_films(y_true, correct_calls(reference.probabilities, y_true, reference.threshold or 0.5), len(classes), seed)


def film_images(experiment, films: list[tuple[int, str]]) -> np.ndarray:
    """The test images of `films` (test index, word) pairs, (F, S, S) uint8."""
    indices = np.array([i for i, _ in films], np.int64)
    return np.asarray(experiment.test.images[indices]) if films else np.asarray(experiment.test.images[:0])


def scored_test_indices(num_test: int, seed: int = 0) -> np.ndarray:
    """The test indices of the border share: a seeded subset of at most MAX_SCORED_IMAGES, in order."""
    return np.sort(np.random.default_rng(seed).permutation(num_test)[:MAX_SCORED_IMAGES])


def explain_model(model_dir, threshold: float | None, images: np.ndarray, film_images: np.ndarray | None) -> dict:
    """One saved model's Grad-CAM record: its last convolution layer, whether its maps have a location, the mean border
    share over `images`, and with `film_images` the maps, calls and scores on those films (else None).

    Loads the model and clears Keras's session after: run it in the process that should hold the model (a worker of a
    comparison whose models each live in a process of their own, or the command's own).
    """
    import keras

    from .saving import load_classifier

    record = explain_loaded(load_classifier(model_dir), threshold, images, film_images)
    keras.backend.clear_session()
    return record


def explain_loaded(model, threshold: float | None, images: np.ndarray, film_images: np.ndarray | None) -> dict:
    """`explain_model` of a model already loaded."""
    record = {"layer": last_convolution_layer(model).name, "location": has_location(model), "share": None, "films": None}
    maps, _, _ = gradcam(model, images, threshold)
    if len(maps) and record["location"]:
        record["share"] = float(np.nanmean(border_share(maps)))
    if film_images is not None and len(film_images):
        record["films"] = gradcam(model, film_images, threshold)
    return record


def explain_comparison(runs, experiment, run_dir: Path, seed: int = 0, baseline: str = "baseline", explained: dict | None = None,
                       plan: GradcamPlan | None = None) -> dict:
    """Each arm's Grad-CAM border share (mean over its seeds' models) and the figure of its first seed's maps on the same films.

    The films are chosen by the baseline's first seed (per class one it called right and one wrong), so every arm is
    shown the same images. Written: `run_dir/gradcam.png`.

    Args:
        explained: {(arm, seed): `explain_model` record} computed elsewhere (each in its model's worker process, on the
            images of `plan`); the models missing from it are loaded and explained here.
        plan: the `gradcam_plan` those records were computed on (None: made here).

    Returns:
        The JSON-ready record of report.json's `gradcam`.
    """
    from matplotlib.figure import Figure

    from .compare import test_targets

    plan = plan or gradcam_plan(runs, experiment, seed, baseline)
    explained = explained or {}
    y_true = test_targets(experiment)
    arms = list(dict.fromkeys(run.arm for run in runs))
    by_arm = {arm: sorted((r for r in runs if r.arm == arm), key=lambda r: r.seed) for arm in arms}
    films, reference = plan.films, plan.reference
    multiclass = experiment.positive is None
    classes = experiment.class_names if multiclass else [experiment.negative, experiment.positive]
    record = {"border_fraction": BORDER_FRACTION, "uniform_border_share": UNIFORM_BORDER_SHARE, "num_images": int(len(plan.scored)),
              "reference": reference.arm, "films": [{"key": experiment.test.keys[i], "label": classes[y_true[i]], reference.arm: word}
                                                      for i, word in films], "arms": {}, "figure": GRADCAM_FILE}
    figure = Figure(figsize=(2.6 * max(1, len(films)), 2.3 * len(arms)))
    axes = figure.subplots(len(arms), max(1, len(films)), squeeze=False)
    for row, arm in enumerate(arms):
        shares = []
        for k, run in enumerate(by_arm[arm]):
            model = explained.get((run.arm, run.seed))
            if model is None or (k == 0 and films and model["films"] is None):
                model = explain_model(run.run_dir, run.threshold, plan.images, plan.film_images if k == 0 else None)
            record.setdefault("layer", model["layer"])
            record.setdefault("location", model["location"])
            shares.append(model["share"])
            if k == 0 and films:
                film_maps, called, scores = model["films"]
                for column, ((index, word), image, heatmap) in enumerate(zip(films, plan.film_images, film_maps)):
                    mark = "right" if called[column] == y_true[index] else "wrong"
                    _overlay(axes[row, column], image, heatmap, f"{arm}: {classes[called[column]]} {scores[column]:.2f} ({mark})")
        measured = [share for share in shares if share is not None]
        record["arms"][arm] = {"border_share": {"mean": float(np.mean(measured)) if measured else None,
                                                "std": float(np.std(measured, ddof=1)) if len(measured) > 1 else (0.0 if measured else None)},
                               "per_seed": [{"seed": run.seed, "border_share": share} for run, share in zip(by_arm[arm], shares)]}
    for column, (index, word) in enumerate(films):
        axes[0, column].set_title(f"{classes[y_true[index]]}, {reference.arm} {word}\n" + axes[0, column].get_title(), fontsize=8)
    if not films:
        for axis in axes.flat:
            axis.axis("off")
    _save_figure(figure, Path(run_dir) / GRADCAM_FILE)
    return record


def format_gradcam(report: dict) -> list[str]:
    """report.md's section on where each arm's models look."""
    record = report.get("gradcam")
    if not record:
        return []
    lines = ["", "## Where each model looks (Grad-CAM)", "",
             f"Grad-CAM maps of the called class on the last convolution block (layer `{record.get('layer')}`). Border share: the "
             f"share of a map's mass in the outer {record['border_fraction']:.0%} of the image, where films carry side markers, text, "
             f"rulers and collimation edges but no lung; a map spread evenly puts {record['uniform_border_share']:.2f} there. A share "
             "well above that flags a model reading the frame rather than the chest (a shortcut). Mean over each arm's seeds of the "
             f"mean over {record['num_images']} test images.", "",
             "| arm | border share (mean ± std over seeds) | times an even map's |", "| --- | --- | --- |"]
    if not record.get("location", True):
        lines[5:] = [f"Layer `{record.get('layer')}`: {NO_LOCATION}. The maps below show the call, not where the model looks."]
    for arm, data in record["arms"].items() if record.get("location", True) else ():
        share = data["border_share"]
        if share["mean"] is None:  # no test image scored
            lines.append(f"| {arm} | n/a | n/a |")
            continue
        lines.append(f"| {arm} | {share['mean']:.3f} ± {share['std']:.3f} | {share['mean'] / record['uniform_border_share']:.2f} |")
    if record["films"]:
        lines += ["", f"Each arm's first seed on the same {len(record['films'])} test films (per class, one the {record['reference']} "
                      "arm's first seed called right and one it called wrong, where it has one); each panel's title is that model's "
                      "call, its probability and whether it is right:", "", f"![Grad-CAM]({record['figure']})"]
    return lines
