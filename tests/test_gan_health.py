"""Signs of a failed GAN run, read back from the run folder after the process has ended."""

import json

import pytest

from xgan.errors import UserError
from xgan.gan import training_problems
from xgan.gan.health import REAL_DIVERSITY_KEY, WINNING_EPOCHS, history_problems
from xgan.gan.train import run_summary


def entry(epoch, d_real=0.7, d_fake=0.6, diversity=None, d_loss=1.2):
    values = {"epoch": epoch, "d_loss": d_loss, "g_loss": 0.9, "d_real_acc": d_real, "d_fake_acc": d_fake}
    if diversity is not None:
        values["preview_diversity"] = diversity
    return values


def healthy_history(epochs=30):
    return [entry(e, diversity=30.0 if e % 10 == 0 else None) for e in range(1, epochs + 1)]


def test_a_healthy_history_has_no_problem():
    assert history_problems(healthy_history(), real_diversity=40.0) == []


def test_a_nan_loss_is_reported_with_its_epoch():
    history = healthy_history(12) + [entry(13, d_loss=None)]
    assert history_problems(history, 40.0) == ["training diverged at epoch 13: the losses became NaN or infinite"]


def test_a_discriminator_winning_at_the_end_is_reported_but_not_one_that_recovered():
    winning = [entry(e, d_real=0.99, d_fake=1.0) for e in range(21, 21 + WINNING_EPOCHS)]
    problems = history_problems(healthy_history(20) + winning, 40.0)
    assert len(problems) == 1 and problems[0].startswith(
        f"the discriminator told real from fake almost perfectly over the last {WINNING_EPOCHS} epochs (epochs 21-30")
    recovered = healthy_history(20) + winning + [entry(31)]
    assert history_problems(recovered, 40.0) == []


def test_a_collapsed_last_preview_is_reported_against_the_real_diversity():
    history = healthy_history(20) + [entry(30, diversity=2.0)]
    assert history_problems(history, 40.0) == [
        "the generator collapsed: its last previews (epoch 30) vary 2.0 gray levels per pixel against 40.0 "
        "for the real images and 30.0 earlier in the run"]
    # A generator that never varied (the start of a run) has not collapsed, and without the real
    # diversity recorded the check is skipped.
    assert history_problems([entry(1, diversity=2.0)], 40.0) == []
    assert history_problems(history, None) == []


def write_run(folder, history, real_diversity=40.0, **config):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"class_name": "covid", "num_epochs": len(history),
                                                    REAL_DIVERSITY_KEY: real_diversity, **config}))
    (folder / "training_keys.json").write_text("[]")
    (folder / "history.json").write_text(json.dumps(history))
    return folder


def test_training_problems_reads_the_run_folder_and_the_summary_repeats_them(tmp_path):
    run_dir = write_run(tmp_path / "00000-gan-covid", healthy_history(20) + [entry(30, diversity=2.0)])
    problems = training_problems(run_dir)
    assert len(problems) == 1 and problems[0].startswith("the generator collapsed")
    summary = run_summary(run_dir)
    assert "PROBLEMS: this run has probably failed" in summary and f"  - {problems[0]}" in summary
    assert "xgan sample --run" not in summary and "a lower --learning-rate or a stronger --augment" in summary
    diffusion = write_run(tmp_path / "00002-gan-covid", healthy_history(20) + [entry(30, diversity=2.0)], model="ddim")
    summary = run_summary(diffusion)  # a diffusion model takes no DiffAugment: the remedy does not name it
    assert summary.startswith("Diffusion (DDIM) run") and "e.g. a lower --learning-rate)" in summary and "--augment" not in summary

    healthy = write_run(tmp_path / "00001-gan-covid", healthy_history())
    assert training_problems(healthy) == []
    assert "PROBLEMS" not in run_summary(healthy) and f"next: xgan sample --run {healthy} --n 400" in run_summary(healthy)


def test_training_problems_of_a_run_without_history_is_empty_and_of_a_non_run_an_error(tmp_path):
    run_dir = write_run(tmp_path / "run", [])
    (run_dir / "history.json").unlink()
    assert training_problems(run_dir) == []
    with pytest.raises(UserError, match="no config.json; expected a GAN run folder written by `xgan train`"):
        training_problems(tmp_path / "nothing")
