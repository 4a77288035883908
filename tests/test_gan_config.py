"""GanConfig validation, its JSON round trip, and the CLI's defaults agreeing with it."""

import dataclasses

import click

import pytest

from xgan.cli import train as train_command
from xgan.errors import UserError
from xgan.gan import GanConfig


@pytest.mark.parametrize("changes, match", [
    ({"image_size": 48}, r"`image_size`. Expected one of 32, 64 or 128 \(option --size\). Received: image_size=48"),
    ({"epochs": 0}, "Received: epochs=0"),
    ({"width": -1}, "Received: width=-1"),
    ({"batch_size": 1}, "Received: batch_size=1"),
    ({"kimg": 0.0}, "Received: kimg=0.0"),
    ({"learning_rate": 0.0}, "Received: learning_rate=0.0"),
    ({"beta_1": 1.0}, "Received: beta_1=1.0"),
    ({"ema_kimg": -1.0}, "Received: ema_kimg=-1.0"),
    ({"ema_rampup": -0.1}, "Received: ema_rampup=-0.1"),
    ({"augment": "translation,color"}, r"Received: augment='translation,color' \(unknown: color\)"),
])
def test_bad_values_are_refused_with_the_argument_named(changes, match):
    with pytest.raises(UserError, match=match):
        GanConfig(**changes)


def test_round_trip_through_a_dict_ignores_keys_a_run_adds():
    config = GanConfig(class_name="covid", image_size=32, epochs=7, augment="")
    values = config.to_dict() | {"dataset_fingerprint": "abc", "num_training_images": 32}
    assert GanConfig.from_dict(values) == config


def test_cli_defaults_are_the_config_defaults():
    context = click.Context(train_command)
    options = {parameter.name: parameter.get_default(context) for parameter in train_command.params}
    renamed = {"image_size": "image_size", "class_name": "class_name", "splits": "splits_file"}
    for field in dataclasses.fields(GanConfig):
        if field.name in ("epochs", "data", "splits"):
            continue  # --epochs defaults to None (the config's, or the resumed run's own); no data = bundled
        option = renamed.get(field.name, field.name)
        default = options[option]
        assert (str(default) if field.name == "out" else default) == field.default, field.name
    epochs = next(parameter for parameter in train_command.params if parameter.name == "epochs")
    assert f"[default: ({GanConfig.epochs}); x>=1]" in epochs.get_help_record(context)[1]
