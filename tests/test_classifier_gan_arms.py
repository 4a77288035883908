"""Issue 11's arms in `classify --compare`: capped, equal-share, fine-tuned and class-weighted GAN sets,
the same-class two-sample AUC per arm, the best GAN arm against the best other arm, and the leak checks."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from xgan.balance import read_synthetic_folder, read_training_manifest
from xgan.classifier.classify import ClassifyConfig, Experiment, training_set
from xgan.classifier.curate import curation_scores, read_synthetic_pool
from xgan.classifier.saving import load_classifier
from xgan.classifier.data import split_images
from xgan.classifier.realism import synthetic_vs_real
from xgan.cli import cli
from xgan.datasets.dataset import load_dataset
from xgan.errors import UserError
from xgan.datasets.splits import resolve_splits

from conftest import make_folder_dataset
from test_classifier_data import make_synthetic_folder

TINY = ["--size", "16", "--epochs", "1", "--batch-size", "16", "--seeds", "1"]
GAN_VARIANTS = ["gan", "gan_capped", "gan_equal", "gan_finetune", "gan_class_weights", "gan_curated"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """12 covid / 28 normal 16 px images, and synthetic folders of both classes (as a conditional GAN gives)."""
    root = tmp_path_factory.mktemp("gan_arms")
    data = make_folder_dataset(root / "xrays", {"covid": 12, "normal": 28}, size=16)
    dataset = load_dataset(data, 16)
    splits = resolve_splits(dataset)
    covid, _ = make_synthetic_folder(root / "covid", dataset, splits, "covid", 60, size=16)
    normal, _ = make_synthetic_folder(root / "normal", dataset, splits, "normal", 60, size=16, seed=1)
    return {"root": root, "data": data, "dataset": dataset, "splits": splits, "covid": covid, "normal": normal}


@pytest.fixture(scope="module")
def compare_run(setup):
    result = CliRunner().invoke(cli, ["classify", "--data", str(setup["data"]), "--compare", "--synthetic", str(setup["covid"]),
                                      "--synthetic", str(setup["normal"]), "--synthetic-cap", "0.25", "--equal-share", "0.5",
                                      "--out", str(setup["root"] / "samples"), *TINY])
    assert result.exit_code == 0, result.output
    run_dir = next((setup["root"] / "samples").iterdir())
    return run_dir, json.loads((run_dir / "report.json").read_text())


def experiment_of(setup) -> Experiment:
    dataset, splits = setup["dataset"], setup["splits"]
    return Experiment(dataset, splits, "covid", split_images(dataset, splits, "train"), split_images(dataset, splits, "val"),
                      split_images(dataset, splits, "test"))


@pytest.mark.slow  # nine models through the CLI
def test_every_gan_variant_is_an_arm_of_compare(compare_run):
    _, report = compare_run
    assert list(report["arms"]) == ["baseline", "classic", "oversample", "class_weights", *GAN_VARIANTS]
    assert set(report["comparisons"]) == set(report["arms"]) - {"baseline"}
    best = report["best_gan_vs_best_other"]
    assert best["arm"] in GAN_VARIANTS and best["reference"] in ("baseline", "classic", "oversample", "class_weights")
    assert "validation ROC-AUC" in best["chosen_by"] and "balanced_accuracy" in best["differences"]


@pytest.mark.slow  # nine models through the CLI
def test_training_sets_of_the_variants(compare_run):
    _, report = compare_run
    sets = {arm: report["arms"][arm]["training_set"] for arm in GAN_VARIANTS}
    train_covid, train_normal = sets["gan"]["covid"]["real"], sets["gan"]["normal"]["real"]
    assert "synthetic" not in sets["gan"]["normal"]  # fill: the majority gets none
    assert sets["gan"]["covid"]["synthetic"] == train_normal - train_covid  # --ratio auto
    capped = sets["gan_capped"]["covid"]
    assert capped["synthetic"] == train_normal // 4 and capped["synthetic"] + capped["oversampled"] == train_normal - train_covid
    equal = sets["gan_equal"]
    assert equal["covid"]["synthetic"] == equal["normal"]["synthetic"] == train_normal  # half of each class's 2 x train_normal
    assert sets["gan_finetune"] == sets["gan_class_weights"] == sets["gan"]
    assert sets["gan_curated"] == sets["gan_equal"]  # the same counts, other images


def _synthetic_paths(run_dir, arm):
    rows = read_training_manifest(run_dir / "arms" / arm / "seed0" / "training_manifest.csv")
    return {row.path for row in rows if row.origin == "synthetic"}


@pytest.mark.slow  # nine models through the CLI
def test_curated_arm_keeps_what_the_same_seed_baseline_scores_best(compare_run, setup):
    run_dir, report = compare_run
    baseline = load_classifier(run_dir / "arms" / "baseline" / "seed0")
    scores = curation_scores(baseline, read_synthetic_pool((setup["covid"], setup["normal"]), 16), ["covid", "normal"], "covid")
    kept = _synthetic_paths(run_dir, "gan_curated")
    assert kept != _synthetic_paths(run_dir, "gan_equal")
    for label in ("covid", "normal"):
        pool = {path: score for path, score in scores.items() if path.name.startswith(label)}
        chosen = {path for path in kept if path in pool}
        assert len(chosen) == report["arms"]["gan_curated"]["training_set"][label]["synthetic"] < len(pool)
        # Every kept image scores at least as high as every image left out (ties aside).
        assert min(pool[path] for path in chosen) >= max(pool[path] for path in pool.keys() - chosen) - 1e-6


@pytest.mark.slow  # nine models through the CLI
def test_balance_curate_takes_the_best_scored_and_refuses_a_gan_trained_model(compare_run, setup, tmp_path):
    run_dir, _ = compare_run
    common = ["balance", "--data", str(setup["data"]), "--synthetic", str(setup["covid"]), "--synthetic", str(setup["normal"]),
              "--mix", "equal"]
    result = CliRunner().invoke(cli, [*common, "--curate", str(run_dir / "arms" / "baseline" / "seed0"), "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 0, result.output
    assert "curated" in result.output
    baseline = load_classifier(run_dir / "arms" / "baseline" / "seed0")
    scores = curation_scores(baseline, read_synthetic_pool((setup["covid"], setup["normal"]), 16), ["covid", "normal"], "covid")
    chosen = {row.path for row in read_training_manifest(tmp_path / "c.csv") if row.origin == "synthetic"}
    for label in ("covid", "normal"):
        pool = {path: score for path, score in scores.items() if path.name.startswith(label)}
        assert min(pool[path] for path in chosen & pool.keys()) >= max(pool[path] for path in pool.keys() - chosen) - 1e-6
    refused = CliRunner().invoke(cli, [*common, "--curate", str(run_dir / "arms" / "gan" / "seed0"), "--out", str(tmp_path / "g.csv")])
    assert refused.exit_code != 0 and "real images only" in refused.output and not (tmp_path / "g.csv").exists()


@pytest.mark.slow  # nine models through the CLI
def test_same_class_two_sample_auc_per_gan_arm(compare_run):
    run_dir, report = compare_run
    for arm in GAN_VARIANTS:
        measured = report["arms"][arm]["synthetic_vs_real"]
        assert "covid" in measured and 0 <= measured["covid"]["auc"] <= 1
        assert measured["covid"]["num_real"] == report["arms"][arm]["training_set"]["covid"]["real"]
    assert set(report["arms"]["gan_equal"]["synthetic_vs_real"]) == {"covid", "normal"}
    assert "synthetic_vs_real" not in report["arms"]["baseline"]
    markdown = (run_dir / "report.md").read_text()
    assert "## Synthetic vs real images of the same class" in markdown and "| gan_equal | normal | 0.50 |" in markdown


@pytest.mark.slow  # nine models through the CLI
def test_finetune_history_has_both_stages_and_weights_are_stored(compare_run):
    run_dir, _ = compare_run
    history = json.loads((run_dir / "arms" / "gan_finetune" / "seed0" / "history.json").read_text())
    assert [entry["stage"] for entry in history] == ["synthetic mix", "real only"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    config = json.loads((run_dir / "arms" / "gan_class_weights" / "seed0" / "config.json").read_text())
    assert config["class_weight"]["covid"] > 1 > config["class_weight"]["normal"] or config["class_weight"]["covid"] == pytest.approx(1)


def test_class_weights_follow_the_mixed_set(setup):
    experiment = experiment_of(setup)
    config = ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["covid"],), ratio="0.5", size=16)
    images, weights = training_set("gan_class_weights", config, experiment, 0)
    counts = {label: images.labels.count(label) for label in ("covid", "normal")}
    assert weights[1] == pytest.approx(len(images) / (2 * counts["covid"]))
    assert weights[0] == pytest.approx(len(images) / (2 * counts["normal"]))


def test_realism_is_high_for_images_unlike_the_real_ones(setup):
    experiment = experiment_of(setup)
    config = ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["covid"],), size=16)
    images, _ = training_set("gan", config, experiment, 0)
    real_covid = [i for i, (label, origin) in enumerate(zip(images.labels, images.origins)) if label == "covid" and origin == "real"]
    # Synthetic images replaced by flat gray ones: trivially told apart from the real X-rays.
    images.images = np.array(images.images)
    images.images[[i for i, o in enumerate(images.origins) if o == "synthetic"]] = 128
    measured = synthetic_vs_real(images)["covid"]
    assert measured["auc"] > 0.9 and measured["num_real"] == len(real_covid)


@pytest.mark.parametrize("arm", ["gan_equal", "gan_curated"])
def test_mixing_arms_refuse_a_gan_that_read_a_test_image(setup, tmp_path, arm):
    dataset, splits = setup["dataset"], setup["splits"]
    leaked, _ = make_synthetic_folder(tmp_path, dataset, splits, "normal", 60, size=16, leak_key=splits.keys("test")[0])
    config = ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["covid"], leaked), size=16, arm_names=(arm,))
    scores = {image.path: 1.0 for folder in (setup["covid"], leaked) for image in read_synthetic_folder(folder).images}
    with pytest.raises(UserError, match="of the test split"):
        training_set(arm, config, experiment_of(setup), 0, scores if arm == "gan_curated" else None)


@pytest.mark.parametrize("overrides, match", [
    ({"arm_names": ("gan_best",)}, r"argument `arms`. Expected names among .*Received: 'gan_best'"),
    ({"arm_names": ("gan_equal",), "synthetic": ()}, "arm gan_equal needs synthetic images"),
    ({"arm_names": ("gan",), "compare": False, "with_gan": True}, "--arms chooses the arms of --compare"),
    ({"equal_share": 1.0}, r"`equal_share`. Expected a share in \(0, 1\)"),
])
def test_config_refusals(setup, overrides, match):
    values = {"data": setup["data"], "compare": True, "synthetic": (setup["covid"],), "size": 16} | overrides
    with pytest.raises(UserError, match=match):
        ClassifyConfig(**values)


def test_arms_option_trains_the_baseline_and_the_chosen(setup):
    config = ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["covid"],), size=16, arm_names=("gan_finetune", "class_weights"))
    assert config.arms == ["baseline", "class_weights", "gan_finetune"]


def test_a_comparison_holds_one_gan_training_set_at_a_time(setup, tmp_path, monkeypatch):
    """Every arm's set is built and checked before training, but only the one training is alive when a model trains."""
    import gc
    import types
    import weakref

    from xgan.classifier import classify as classify_module

    original = classify_module.training_set
    built, alive_when_training = [], []

    def tracked(arm, *args, **kwargs):
        images, weights = original(arm, *args, **kwargs)
        if any(origin == "synthetic" for origin in images.origins):  # a GAN arm's own copy of every pixel
            built.append(weakref.ref(images))
        return images, weights

    class Stop(Exception):
        pass

    arms = ["baseline", "gan", "gan_capped", "gan_class_weights"]

    def train_nothing(arm, seed, config, experiment, folder, prepared=None):
        images, _ = prepared if prepared is not None else tracked(arm, config, experiment, seed)
        gc.collect()
        alive_when_training.append(sum(ref() is not None for ref in built))
        if len(alive_when_training) == len(arms):
            raise Stop
        return types.SimpleNamespace(metrics={"balanced_accuracy": 0.5})

    monkeypatch.setattr(classify_module, "training_set", tracked)  # the up-front checks; `train_nothing` builds the rest
    monkeypatch.setattr(classify_module, "run_arm", train_nothing)
    config = ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["covid"],), size=16, arm_names=tuple(arms[1:]), seeds=1,
                            out=tmp_path)
    with pytest.raises(Stop):
        classify_module.classify(config)
    assert len(built) == 6  # each GAN arm's set built twice: checked up front, then again for its training
    assert alive_when_training == [0, 1, 1, 1]


def test_no_gan_training_set_is_alive_while_a_model_fine_tunes_on_real_images(setup, tmp_path, monkeypatch):
    """gan_finetune's GAN-mix pixels (a copy of every image) go once its first stage has trained on them: the real-only
    stage, and the scoring after it, hold no GAN set."""
    import gc
    import types
    import weakref

    from xgan.classifier import arm_run
    from xgan.classifier import classify as classify_module
    from xgan.classifier import train as train_module

    original = arm_run.training_set
    built, alive_when_fine_tuning = [], []

    def tracked(arm, *args, **kwargs):
        images, weights = original(arm, *args, **kwargs)
        if any(origin == "synthetic" for origin in images.origins):
            built.append(weakref.ref(images.images))
        return images, weights

    class Stop(Exception):
        pass

    def trained(network, images, targets, validation, **options):
        return train_module.TrainingResult(None, [], 1, 0.0)

    def fine_tune(pretrained, config, experiment, seed):
        gc.collect()
        alive_when_fine_tuning.append(sum(ref() is not None for ref in built))
        raise Stop

    def run_arm(arm, *args):  # the baseline trains nothing; gan_finetune runs the real run_arm up to its fine-tuning
        return types.SimpleNamespace(metrics={"balanced_accuracy": 0.5}) if arm == "baseline" else arm_run.run_arm(arm, *args)

    monkeypatch.setattr(classify_module, "training_set", tracked)
    monkeypatch.setattr(arm_run, "training_set", tracked)
    monkeypatch.setattr(classify_module, "run_arm", run_arm)
    monkeypatch.setattr(train_module, "train_classifier", trained)
    monkeypatch.setattr(arm_run, "fine_tune_on_real", fine_tune)
    config = ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["covid"],), size=16, arm_names=("gan_finetune",),
                            seeds=1, out=tmp_path)
    with pytest.raises(Stop):
        classify_module.classify(config)
    assert len(built) == 2  # checked up front (and let go), then built again for its training
    assert alive_when_fine_tuning == [0]
