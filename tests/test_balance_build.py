"""Building training sets: the GAN arm, the oversampling arm, the leak check, the manifest files and `xgan balance`.

Synthetic folders and GAN runs are written by hand here (PNGs, manifest.csv, training_keys.json,
config.json), as contracts 1 and 2 describe them: no GAN and no TensorFlow are needed.
"""

import csv
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from xgan.balance import (build_training_set, check_no_leak, check_training_only, read_synthetic_folder,
                          read_training_manifest)
from xgan.balance.command import BalanceConfig, run_balance
from xgan.runs import SYNTHETIC_COLUMNS
from xgan.cli import cli
from xgan.datasets.dataset import bundled_dataset_path, load_dataset
from xgan.errors import UserError
from xgan.runs import read_json, write_json
from xgan.datasets.splits import resolve_splits

TRAIN_COVID, TRAIN_NORMAL = 8, 20


def write_fixed_splits(root: Path) -> None:
    """covid 0-7 train, 8-9 val, 10-11 test; normal 0-19 train, 20-23 val, 24-27 test."""
    assignments = {}
    for label, num_train, num_val, total in (("covid", 8, 2, 12), ("normal", 20, 4, 28)):
        for i in range(total):
            split = "train" if i < num_train else "val" if i < num_train + num_val else "test"
            assignments[f"{label}/{label}_{i:03d}.png"] = split
    write_json(root / "splits.json", {"seed": 0, "assignments": assignments})


def make_gan_run(run: Path, dataset, splits, label: str = "covid", training_keys=None, config: bool = True) -> Path:
    """A GAN run folder as contract 1 has it, reduced to what balancing reads."""
    run.mkdir(parents=True)
    if training_keys is None:
        labels = {r.key: r.label for r in dataset.records}
        training_keys = [k for k in splits.keys("train") if labels[k] == label]
    if training_keys is not False:
        write_json(run / "training_keys.json", sorted(training_keys))
    if config:
        write_json(run / "config.json", {"dataset": str(dataset.source), "dataset_fingerprint": dataset.fingerprint,
                                         "splits": str(splits.path), "class_name": label})
    return run


def make_synthetic_folder(folder: Path, run: Path, dataset, label: str = "covid", num_images: int = 16,
                          seed: int = 7, fingerprint: str | None = None) -> Path:
    """A synthetic folder as `xgan sample` writes it (contract 2): PNGs plus manifest.csv."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(num_images):
        file = f"{label}_{index:05d}.png"
        cv2.imwrite(str(folder / file), rng.integers(0, 256, (16, 16), dtype=np.uint8))
        rows.append({"file": file, "label": label, "dataset": dataset.name,
                     "dataset_fingerprint": fingerprint or dataset.fingerprint, "run": str(run),
                     "checkpoint": "snapshot_000200", "checkpoint_step": 200, "seed": seed, "index": index})
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SYNTHETIC_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture
def study(tmp_path, folder_dataset):
    """The 12/28 folder dataset with fixed splits (train 8/20), a covid GAN run and 16 synthetic covid images."""
    write_fixed_splits(folder_dataset)
    dataset = load_dataset(folder_dataset)
    splits = resolve_splits(dataset)
    run = make_gan_run(tmp_path / "runs" / "00000-gan-covid", dataset, splits)
    synthetic = make_synthetic_folder(run / "synthetic", run, dataset)
    return SimpleNamespace(root=tmp_path, data=folder_dataset, dataset=dataset, splits=splits, run=run, synthetic=synthetic)


def origins(rows, label, origin):
    return [row for row in rows if row.label == label and row.origin == origin]


@pytest.mark.parametrize("target, num_covid_added", [
    (0.5, 2), ("0.5", 2), ("1:2", 2), (0.8, 8), ("auto", 12), ({"covid": 15}, 7), ("covid=20,normal=20", 12),
])
def test_gan_arm_adds_synthetic_training_rows_only(study, target, num_covid_added):
    rows = build_training_set(study.dataset, study.splits, target, synthetic_dirs=[study.synthetic], seed=3)
    train = set(study.splits.keys("train"))
    held_out = set(study.splits.keys("val")) | set(study.splits.keys("test"))
    assert [row.key for row in rows if row.origin == "real"] == sorted(train)
    assert not held_out & {row.key for row in rows}
    synthetic = [row for row in rows if row.origin == "synthetic"]
    assert len(synthetic) == num_covid_added == len(origins(rows, "covid", "synthetic"))
    assert len(origins(rows, "covid", "real")) == TRAIN_COVID and len(origins(rows, "normal", "real")) == TRAIN_NORMAL
    assert all(row.path.parent == study.synthetic and row.key is None for row in synthetic)
    assert all(row.run == study.run and row.seed == 7 for row in synthetic)
    assert len({row.path for row in synthetic}) == len(synthetic)  # no synthetic image twice
    assert not origins(rows, "covid", "oversampled")


def test_target_already_met_is_refused_by_every_arm(study):
    message = "class covid already has 8 images, the target 0.29 asks for 6: nothing to add"  # 0.29 * 20 = 5.8
    with pytest.raises(UserError, match=message):
        build_training_set(study.dataset, study.splits, 0.29, synthetic_dirs=[study.synthetic])
    with pytest.raises(UserError, match=message):
        build_training_set(study.dataset, study.splits, 0.29, method="oversample")


@pytest.mark.parametrize("target, num_added", [(0.5, 2), ("auto", 12), ("covid=30", 22)])
def test_oversample_arm_repeats_real_training_images(study, target, num_added):
    rows = build_training_set(study.dataset, study.splits, target, method="oversample", seed=1)
    added = [row for row in rows if row.origin == "oversampled"]
    assert len(added) == num_added and all(row.label == "covid" for row in added)
    train_covid = {row.key for row in origins(rows, "covid", "real")}
    assert {row.key for row in added} <= train_covid
    repeats = [sum(row.key == key for row in added) for key in sorted(train_covid)]
    # every image is used once before any is used again
    assert max(repeats) - min(repeats) <= 1 and sum(repeats) == num_added
    assert all(row.path == Path(row.path).absolute() and row.path.is_file() for row in added)
    check_training_only(rows, study.splits)


def test_oversample_is_seeded(study):
    first = build_training_set(study.dataset, study.splits, 0.5, method="oversample", seed=1)
    assert first == build_training_set(study.dataset, study.splits, 0.5, method="oversample", seed=1)
    draws = {tuple(r.key for r in build_training_set(study.dataset, study.splits, 0.5, method="oversample", seed=s)
                   if r.origin == "oversampled") for s in range(6)}
    assert len(draws) > 1


def test_oversample_on_npz_rows_have_no_path(npz_dataset):
    dataset = load_dataset(npz_dataset)
    splits = resolve_splits(dataset, npz_dataset.with_name("splits.json"))
    rows = build_training_set(dataset, splits, "auto", method="oversample")
    counts = dataset.class_counts(set(splits.keys("train")))
    assert len(rows) == 2 * max(counts.values())
    assert all(row.path is None and row.key.startswith("train/") for row in rows)


def test_synthetic_choice_is_seeded(study):
    def chosen(seed):
        rows = build_training_set(study.dataset, study.splits, 0.8, synthetic_dirs=[study.synthetic], seed=seed)
        return [row.path.name for row in rows if row.origin == "synthetic"]

    assert chosen(0) == chosen(0)
    assert chosen(0) != chosen(1)
    assert chosen(0) == sorted(chosen(0))  # kept in manifest order


def test_check_training_only_refuses_held_out_keys(study):
    rows = build_training_set(study.dataset, study.splits, 0.5, method="oversample")
    bad = rows + [type(rows[0])(None, "covid/covid_009.png", "covid", "oversampled")]
    with pytest.raises(UserError, match=r"key 'covid/covid_009.png' \(oversampled\) is in val, not in the train split"):
        check_training_only(bad, study.splits)


@pytest.mark.parametrize("leaked_key, split", [("covid/covid_008.png", "val"), ("covid/covid_011.png", "test"),
                                               ("normal/normal_027.png", "test")])
def test_leak_refused(study, leaked_key, split):
    train_keys = [k for k in study.splits.keys("train") if k.startswith("covid/")]
    run = make_gan_run(study.root / "runs" / "00001-leaky", study.dataset, study.splits, training_keys=train_keys + [leaked_key])
    folder = make_synthetic_folder(run / "synthetic", run, study.dataset)
    message = rf"00001-leaky: the GAN read 1 image\(s\) of the {split} split of .*splits.json \(e.g. '{leaked_key}'\); its images would leak"
    with pytest.raises(UserError, match=message):
        build_training_set(study.dataset, study.splits, 0.5, synthetic_dirs=[folder])
    with pytest.raises(UserError, match=message):
        check_no_leak([run], study.splits)
    check_no_leak([study.run], study.splits, study.dataset)


def test_leak_check_refuses_excluded_duplicates(study):
    """An image excluded from training as a duplicate of a held-out one is held out too."""
    data = read_json(study.splits.path)
    data["assignments"]["covid/covid_007.png"] = "excluded"
    write_json(study.splits.path, data)
    splits = resolve_splits(study.dataset)
    with pytest.raises(UserError, match=r"the GAN read 1 image\(s\) of the excluded split"):
        check_no_leak([study.run], splits)
    rows = build_training_set(study.dataset, splits, "auto", method="oversample")
    assert "covid/covid_007.png" not in {row.key for row in rows}


def test_leak_check_refuses_run_without_training_keys(study):
    run = make_gan_run(study.root / "runs" / "00002-nokeys", study.dataset, study.splits, training_keys=False)
    folder = make_synthetic_folder(run / "synthetic", run, study.dataset)
    with pytest.raises(UserError, match=r"00002-nokeys: no training_keys.json in the GAN run folder; without the list of real images the GAN read"):
        build_training_set(study.dataset, study.splits, 0.5, synthetic_dirs=[folder])


def test_leak_check_refuses_keys_of_another_dataset(study):
    run = make_gan_run(study.root / "runs" / "00003-other", study.dataset, study.splits, training_keys=["elsewhere/x.png"])
    folder = make_synthetic_folder(run / "synthetic", run, study.dataset)
    with pytest.raises(UserError, match=r"1 key\(s\) are not images of dataset xrays \(e.g. 'elsewhere/x.png'\)"):
        build_training_set(study.dataset, study.splits, 0.5, synthetic_dirs=[folder])


def test_run_config_of_another_dataset_refused(study):
    write_json(study.run / "config.json", {"dataset_fingerprint": "0123456789abcdef", "class_name": "covid"})
    with pytest.raises(UserError, match=r"config.json: the GAN was trained on dataset fingerprint 0123456789abcdef, but this dataset xrays has fingerprint"):
        build_training_set(study.dataset, study.splits, 0.5, synthetic_dirs=[study.synthetic])


def test_not_enough_synthetic_images(study):
    message = (r"class covid needs 12 synthetic images to reach 20, the synthetic folder\(s\) hold 10: "
               r"make 2 more with `xgan sample --run .*00000-gan-covid --n 2 --seed 1 --out .*00000-gan-covid/synthetic-seed1`")
    small = make_synthetic_folder(study.root / "small", study.run, study.dataset, num_images=10)
    with pytest.raises(UserError, match=message):
        build_training_set(study.dataset, study.splits, "auto", synthetic_dirs=[small])
    # the same images twice are one set of images, not two
    with pytest.raises(UserError, match=message):
        build_training_set(study.dataset, study.splits, "auto", synthetic_dirs=[small, small])
    other_seed = make_synthetic_folder(study.root / "more", study.run, study.dataset, num_images=2, seed=8)
    rows = build_training_set(study.dataset, study.splits, "auto", synthetic_dirs=[small, other_seed])
    assert len(origins(rows, "covid", "synthetic")) == 12


def test_a_class_no_synthetic_folder_holds_points_to_training_a_gan_on_it(study):
    """The folders hold covid images only and the target asks for more normal ones: sampling the covid GAN again cannot
    help, so the error names the class and how to get a GAN of it (the training split holds 20 real normal images)."""
    with pytest.raises(UserError, match=(r"^class normal needs 3 synthetic images to reach \d+, the synthetic folder\(s\) hold none "
                                         r"\(their classes: covid\): train a GAN on it \(`xgan train --data DATA --class normal`\) or on "
                                         r"every class \(`xgan train --data DATA --conditional`\)")):
        build_training_set(study.dataset, study.splits, "covid=20,normal=23", synthetic_dirs=[study.synthetic])


def test_synthetic_folder_refusals(study):
    def build(folder, target=0.5):
        return build_training_set(study.dataset, study.splits, target, synthetic_dirs=[folder])

    with pytest.raises(UserError, match=r"other-data/manifest.csv: made from dataset xrays \(fingerprint 0123456789abcdef\), but this dataset xrays has fingerprint"):
        build(make_synthetic_folder(study.root / "other-data", study.run, study.dataset, fingerprint="0123456789abcdef"))
    with pytest.raises(UserError, match=r"images of class 'pneumonia', which dataset xrays does not have; its classes are covid, normal"):
        build(make_synthetic_folder(study.root / "pneumonia", study.run, study.dataset, label="pneumonia"))
    normal_run = make_gan_run(study.root / "runs" / "00004-gan-normal", study.dataset, study.splits, label="normal")
    with pytest.raises(UserError, match=r"holds images of class normal, but the target 0.5 adds images to covid only"):
        build(make_synthetic_folder(normal_run / "synthetic", normal_run, study.dataset, label="normal"))
    (study.root / "empty").mkdir()
    with pytest.raises(UserError, match=r"empty: no manifest.csv; expected a synthetic folder written by `xgan sample`"):
        build(study.root / "empty")
    with pytest.raises(UserError, match=r"nowhere: no such synthetic folder"):
        build(study.root / "nowhere")
    (study.synthetic / "covid_00003.png").unlink()
    with pytest.raises(UserError, match=r"manifest.csv, line 5: image 'covid_00003.png' does not exist"):
        build(study.synthetic)
    with pytest.raises(UserError, match=r"method 'gan' needs at least one synthetic folder"):
        build_training_set(study.dataset, study.splits, 0.5)
    with pytest.raises(UserError, match=r"method 'oversample' repeats real images and takes no synthetic folder"):
        build_training_set(study.dataset, study.splits, 0.5, method="oversample", synthetic_dirs=[study.synthetic])
    with pytest.raises(UserError, match=r"Expected one of gan, oversample. Received: method='smote'"):
        build_training_set(study.dataset, study.splits, 0.5, method="smote")


def test_synthetic_manifest_refusals(study):
    manifest = study.synthetic / "manifest.csv"
    text = manifest.read_text()
    manifest.write_text(text.replace(",seed,index", ",seed"))
    with pytest.raises(UserError, match=r"manifest.csv: missing column\(s\) index; expected file,label,dataset"):
        read_synthetic_folder(study.synthetic)
    manifest.write_text(text.replace(str(study.run), "runs/gone"))
    with pytest.raises(UserError, match=r"line 2: GAN run folder 'runs/gone' not found .*its training_keys.json is needed"):
        read_synthetic_folder(study.synthetic)
    manifest.write_text(text.splitlines()[0] + "\n")
    with pytest.raises(UserError, match=r"manifest.csv: no rows"):
        read_synthetic_folder(study.synthetic)


def test_run_relative_to_synthetic_folder(study, monkeypatch):
    manifest = study.synthetic / "manifest.csv"
    manifest.write_text(manifest.read_text().replace(str(study.run), ".."))
    monkeypatch.chdir(study.root)
    assert read_synthetic_folder(study.synthetic).runs == [study.run]


def config(study, **overrides):
    options = dict(data=study.data, synthetic=(study.synthetic,), ratio="0.8", out=study.root / "balanced" / "train.csv")
    options.update(overrides)
    return BalanceConfig(**options)


def test_same_seed_same_bytes_other_seed_other_choice(study):
    first = run_balance(config(study, out=study.root / "a.csv", seed=5))
    run_balance(config(study, out=study.root / "b.csv", seed=5))
    run_balance(config(study, out=study.root / "c.csv", seed=6))
    a, b, c = ((study.root / f"{name}.csv").read_bytes() for name in "abc")
    assert a == b and a != c
    assert (study.root / "a.json").read_bytes().replace(b"a.csv", b"b.csv") == (study.root / "b.json").read_bytes()
    assert read_training_manifest(study.root / "a.csv") == first.rows
    assert first.target == {"covid": 16, "normal": 20}


def test_dry_run_writes_nothing(study):
    before = sorted(p for p in study.root.rglob("*"))
    result = run_balance(config(study, dry_run=True, copy=True))
    assert sorted(p for p in study.root.rglob("*")) == before
    assert not result.written
    assert "dry run   nothing written; would write" in result.summary


def test_dry_run_refuses_to_make_splits(folder_dataset):
    with pytest.raises(UserError, match=r"splits.json: no saved split yet, and a dry run writes nothing"):
        run_balance(BalanceConfig(data=folder_dataset, method="oversample", dry_run=True))
    assert not (folder_dataset / "splits.json").exists()


def test_existing_manifest_needs_overwrite(study):
    run_balance(config(study))
    with pytest.raises(UserError, match=r"train.csv: a training manifest already exists; pass --overwrite"):
        run_balance(config(study))
    assert run_balance(config(study, overwrite=True, ratio="auto")).written
    assert len(read_training_manifest(study.root / "balanced" / "train.csv")) == 2 * TRAIN_NORMAL


def test_copy_puts_synthetic_images_beside_the_manifest(study):
    result = run_balance(config(study, copy=True))
    copies = study.root / "balanced" / "train"
    synthetic = [row for row in read_training_manifest(result.out) if row.origin == "synthetic"]
    assert len(synthetic) == 8 and all(row.path.parent == copies / "covid" for row in synthetic)
    assert all(row.path.name.startswith("00000-gan-covid-covid_") for row in synthetic)
    assert "../runs" not in result.out.read_text().split("synthetic")[0]
    # a rerun finds identical copies and keeps them; a file with other bytes is never overwritten
    assert run_balance(config(study, copy=True, overwrite=True)).written
    synthetic[0].path.write_bytes(b"changed")
    with pytest.raises(UserError, match=r"exists with other content; refusing to overwrite it"):
        run_balance(config(study, copy=True, overwrite=True))
    assert synthetic[0].path.read_bytes() == b"changed"


@pytest.mark.parametrize("overrides, message", [
    (dict(ratio="2"), r"Expected a float in \(0, 1\]"),
    (dict(synthetic=()), r"method 'gan' needs at least one synthetic folder: pass --synthetic DIR"),
    (dict(method="oversample"), r"method 'oversample' repeats real images and takes no --synthetic folder"),
    (dict(method="oversample", synthetic=(), copy=True), r"--copy copies synthetic images; method 'oversample' has none"),
    (dict(out=Path("train.txt")), r"Expected a .csv file. Received: out='train.txt'"),
    (dict(seed=-1), r"Expected a non-negative integer. Received: seed=-1"),
])
def test_balance_config_refusals(study, overrides, message):
    with pytest.raises(UserError, match=message):
        config(study, **overrides)


def table_row(output: str, label: str) -> list[int]:
    """The before, +oversampled, +synthetic and after counts of one class in a printed summary."""
    line = next(line for line in output.splitlines() if line.split()[:1] == [label])
    return [int(value) for value in line.split()[1:]]


def invoke(*args):
    return CliRunner().invoke(cli, ["balance", *map(str, args)])


def test_cli_writes_default_manifest(study, monkeypatch):
    monkeypatch.chdir(study.root)
    result = invoke("--data", study.data, "--synthetic", study.synthetic, "--ratio", "1:2", "--seed", 3)
    assert result.exit_code == 0, result.output
    out = study.root / "samples" / "balanced" / "xrays-gan-0.5-seed3.csv"
    assert "wrote     samples/balanced/xrays-gan-0.5-seed3.csv" in result.output
    assert "training rows only: the 6 validation and 6 test images are not in this manifest" in result.output
    assert table_row(result.output, "covid") == [8, 0, 2, 10]
    rows = read_training_manifest(out)
    assert len(rows) == TRAIN_COVID + TRAIN_NORMAL + 2
    again = invoke("--data", study.data, "--synthetic", study.synthetic, "--ratio", "1:2", "--seed", 3)
    assert again.exit_code == 2
    assert again.stderr.strip().splitlines() == [f"Error: {Path('samples/balanced/xrays-gan-0.5-seed3.csv')}: a training manifest already exists; pass --overwrite to replace it, or --out another file"]


def test_cli_oversample_dry_run(study, monkeypatch):
    monkeypatch.chdir(study.root)
    result = invoke("--data", study.data, "--method", "oversample", "--ratio", "auto", "--dry-run")
    assert result.exit_code == 0, result.output
    assert table_row(result.output, "covid") == [8, 12, 0, 20]
    assert not (study.root / "samples").exists()


@pytest.mark.parametrize("args, message", [
    (["--ratio", "0.05"], "class covid already has 8 images, the target 0.05 asks for 1: nothing to add"),
    (["--ratio", "1:2:3"], r"Expected a float in \(0, 1\] such as"),
    (["--ratio", "pneumonia=40"], "unknown class 'pneumonia' in the target"),
    (["--ratio", "auto", "--seed", "0"], r"class covid needs 12 synthetic images to reach 20, the synthetic folder\(s\) hold 4: make 8 more"),
])
def test_cli_one_line_errors(study, args, message):
    small = make_synthetic_folder(study.root / "small", study.run, study.dataset, num_images=4)
    result = invoke("--data", study.data, "--synthetic", small, "--out", study.root / "x.csv", *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert re.search(message, lines[0]), lines[0]
    assert not (study.root / "x.csv").exists()


def test_cli_leak_and_missing_manifest_are_one_line_errors(study):
    run = make_gan_run(study.root / "runs" / "00005-leaky", study.dataset, study.splits, training_keys=["covid/covid_010.png"])
    leaky = make_synthetic_folder(run / "synthetic", run, study.dataset)
    result = invoke("--data", study.data, "--synthetic", leaky, "--ratio", "0.5", "--dry-run")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "the GAN read 1 image(s) of the test split" in result.stderr
    result = invoke("--data", study.data, "--synthetic", study.root, "--ratio", "0.5", "--dry-run")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no manifest.csv" in result.stderr


def test_cli_dry_run_on_the_bundled_data(tmp_path, monkeypatch):
    dataset = load_dataset(bundled_dataset_path())
    splits = resolve_splits(dataset)
    run = make_gan_run(tmp_path / "00000-gan-covid", dataset, splits)
    synthetic = make_synthetic_folder(run / "synthetic", run, dataset, num_images=200)
    monkeypatch.chdir(tmp_path)
    result = invoke("--synthetic", synthetic, "--ratio", "0.5", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "target    0.5 (method gan, seed 0): covid 32 -> 207, normal 413 -> 413" in result.output
    assert table_row(result.output, "covid") == [32, 0, 175, 207]
    assert table_row(result.output, "normal") == [413, 0, 0, 413]
    assert "training rows only: the 96 validation and 95 test images are not in this manifest" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000-gan-covid"]


def test_balance_imports_neither_tensorflow_nor_gan():
    code = ("import sys, xgan.balance, xgan.balance.command; "
            "print(sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras', 'xgan.gan'))))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


@pytest.fixture
def both_classes(study):
    """The study plus a conditional-like GAN run with synthetic folders of both classes (same seeds and indices)."""
    run = make_gan_run(study.root / "runs" / "00001-gan-conditional", study.dataset, study.splits,
                       training_keys=study.splits.keys("train"))
    study.covid_folder = make_synthetic_folder(run / "synthetic-covid", run, study.dataset, "covid", num_images=40)
    study.normal_folder = make_synthetic_folder(run / "synthetic-normal", run, study.dataset, "normal", num_images=40)
    return study


def test_equal_mix_gives_every_class_the_same_synthetic_share(both_classes):
    rows = build_training_set(both_classes.dataset, both_classes.splits, "auto", synthetic_dirs=[both_classes.covid_folder, both_classes.normal_folder],
                              mix="equal", synthetic_share=0.5, seed=0)
    # auto: both classes to 20 real-part images (covid 8 real + 12 repeated), plus as many synthetic each
    for label, real, repeated in (("covid", 8, 12), ("normal", 20, 0)):
        assert len(origins(rows, label, "real")) == real and len(origins(rows, label, "oversampled")) == repeated
        assert len(origins(rows, label, "synthetic")) == 20
    check_training_only(rows, both_classes.splits)


def test_fill_mix_with_a_cap_repeats_real_images_for_the_rest(both_classes):
    rows = build_training_set(both_classes.dataset, both_classes.splits, "auto", synthetic_dirs=[both_classes.covid_folder, both_classes.normal_folder],
                              synthetic_share=0.25, skip_idle_folders=True, seed=0)
    assert len(origins(rows, "covid", "synthetic")) == 5  # a quarter of 20
    assert len(origins(rows, "covid", "oversampled")) == 7 and not origins(rows, "normal", "synthetic")
    with pytest.raises(UserError, match="holds images of class normal, but the target auto adds images to covid only"):
        build_training_set(both_classes.dataset, both_classes.splits, "auto", synthetic_dirs=[both_classes.covid_folder, both_classes.normal_folder])


def test_equal_mix_leak_check_covers_every_class_run(both_classes):
    leaked = make_gan_run(both_classes.root / "runs" / "00002-gan-conditional", both_classes.dataset, both_classes.splits,
                          training_keys=both_classes.splits.keys("train") + both_classes.splits.keys("val")[:1])
    normal = make_synthetic_folder(leaked / "synthetic-normal", leaked, both_classes.dataset, "normal", num_images=40)
    with pytest.raises(UserError, match="the GAN read 1 image.s. of the val split"):
        build_training_set(both_classes.dataset, both_classes.splits, "auto", synthetic_dirs=[both_classes.covid_folder, normal], mix="equal")


def test_cli_balance_equal_mix(both_classes, monkeypatch):
    monkeypatch.chdir(both_classes.root)
    result = CliRunner().invoke(cli, ["balance", "--data", str(both_classes.data), "--synthetic", str(both_classes.covid_folder),
                                      "--synthetic", str(both_classes.normal_folder), "--ratio", "auto", "--mix", "equal",
                                      "--synthetic-share", "0.5", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "mix equal: 0.5 of every class synthetic" in result.output and "covid 8 -> 40, normal 20 -> 40" in result.output
    result = CliRunner().invoke(cli, ["balance", "--data", str(both_classes.data), "--method", "oversample", "--mix", "equal", "--dry-run"])
    assert result.exit_code == 2 and "method 'oversample' has none" in result.output


def test_scores_choose_the_best_images_of_each_class(both_classes):
    folders = [both_classes.covid_folder, both_classes.normal_folder]
    images = [image for folder in folders for image in read_synthetic_folder(folder).images]
    scores = {image.path: float(image.index) for image in images}  # the later an image, the better
    rows = build_training_set(both_classes.dataset, both_classes.splits, "auto", synthetic_dirs=folders, mix="equal",
                              synthetic_share=0.5, seed=0, synthetic_scores=scores)
    for label in ("covid", "normal"):
        chosen = sorted(int(row.path.stem.split("_")[-1]) for row in origins(rows, label, "synthetic"))
        assert chosen == list(range(20, 40))  # the 20 best of 40, whatever the seed
    again = build_training_set(both_classes.dataset, both_classes.splits, "auto", synthetic_dirs=folders, mix="equal",
                               synthetic_share=0.5, seed=5, synthetic_scores=scores)
    # The synthetic choice is the same; the repeated real images follow the seed.
    assert [row.path for row in again if row.origin == "synthetic"] == [row.path for row in rows if row.origin == "synthetic"]
    del scores[images[0].path]
    with pytest.raises(ValueError, match="Expected a score for every synthetic image of class covid"):
        build_training_set(both_classes.dataset, both_classes.splits, "auto", synthetic_dirs=folders, mix="equal", synthetic_scores=scores)


def test_curate_is_refused_without_synthetic_images(study):
    with pytest.raises(UserError, match="--curate chooses synthetic images; method 'oversample' has none"):
        BalanceConfig(data=study.data, method="oversample", curate=study.root)
