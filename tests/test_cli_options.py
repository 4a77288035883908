"""Every option of every command is checked by its click type: a bad value ends in one error line and exit 2."""

import click
import pytest
from click.testing import CliRunner

from xgan.cli import cli


def walk(group: click.Group, path=()):
    """(command path, command) of every command under `group`, nested groups included."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))
        else:
            yield (*path, name), command


def bad_values(option: click.Option) -> list[str]:
    """Values the option's type must refuse: out of its range, not a number, not a choice."""
    kind = option.type
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        values = ["not-a-number"]
        if kind.min is not None:
            values.append(str(kind.min if kind.min_open else kind.min - 1))
        if kind.max is not None:
            values.append(str(kind.max if kind.max_open else kind.max + 1))
        return values
    if isinstance(kind, click.Choice):
        return ["not-a-choice"]
    return []


NUMERIC_OPTIONS = [(path, option) for path, command in walk(cli) for option in command.params
                   if isinstance(option, click.Option) and not option.is_flag
                   and isinstance(option.type, (click.types._NumberParamTypeBase, click.Choice))]


def test_the_walk_finds_the_commands_and_their_numeric_options():
    commands = {" ".join(path) for path, _ in walk(cli)}
    assert {"info", "train", "sample", "balance", "classify", "evaluate", "predict", "quality", "run"} <= commands
    names = {(" ".join(path), option.name) for path, option in NUMERIC_OPTIONS}
    assert {("train", "seed"), ("train", "epochs"), ("sample", "seed"), ("quality", "seed"), ("info", "seed"),
            ("classify", "seeds"), ("train", "strategy"), ("classify", "strategy"), ("run", "strategy"),
            ("train", "precision"), ("classify", "precision"), ("run", "precision")} <= names


@pytest.mark.parametrize("path, option", NUMERIC_OPTIONS, ids=[f"{' '.join(p)} {o.opts[0]}" for p, o in NUMERIC_OPTIONS])
def test_every_numeric_option_has_a_range(path, option):
    assert isinstance(option.type, (click.IntRange, click.FloatRange, click.Choice)), (
        f"xgan {' '.join(path)} {option.opts[0]}: a plain {option.type.name} reaches the library unchecked; give it a range")


CASES = [(path, option.opts[0], value) for path, option in NUMERIC_OPTIONS for value in bad_values(option)]


@pytest.mark.parametrize("path, flag, value", CASES, ids=[f"{' '.join(p)} {f} {v}" for p, f, v in CASES])
def test_a_bad_value_is_one_error_line_and_exit_2(path, flag, value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but if it were, not into the repository
    result = CliRunner().invoke(cli, [*path, flag, value])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Invalid value for ") and f"'{flag}'" in lines[0], result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["train", "--seed", "-1"], "Invalid value for '--seed': -1 is not in the range 0<=x<=4294967295."),
    (["train", "--size", "48"], "Invalid value for '--size': '48' is not one of '32', '64', '128'."),
    (["sample", "--seed", str(2**32)], "Invalid value for '--seed': 4294967296 is not in the range 0<=x<=4294967295."),
    (["train", "--batch-size", "1"], "Invalid value for '--batch-size': 1 is not in the range x>=2."),
])
def test_messages_name_the_option_and_the_range(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and result.output == f"Error: {message}\n"


def _built_config(monkeypatch, module: str, function: str, args: list[str]):
    """The config object `xgan ARGS` hands to `module.function`, caught before anything runs."""
    import importlib

    from xgan.errors import UserError

    built = []

    def catch(config, *rest, **options):
        built.append(config)
        raise UserError("caught")

    monkeypatch.setattr(importlib.import_module(module), function, catch)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "caught" in result.output, result.output
    return built[0]


def test_the_cli_defaults_are_the_configs_own(monkeypatch, tmp_path):
    import dataclasses

    from xgan.balance.command import BalanceConfig
    from xgan.classifier.classify_config import ClassifyConfig
    from xgan.gan.config import GanConfig
    from xgan.quality.config import QualityConfig
    from xgan.study.config import StudyConfig

    assert _built_config(monkeypatch, "xgan.classifier.classify", "classify", ["classify"]).to_dict() == ClassifyConfig().to_dict()
    assert dataclasses.asdict(_built_config(monkeypatch, "xgan.gan", "train_gan", ["train"])) == dataclasses.asdict(GanConfig())
    assert _built_config(monkeypatch, "xgan.study.runner", "run_study", ["run"]) == StudyConfig()
    balance = _built_config(monkeypatch, "xgan.balance.command", "run_balance", ["balance", "--synthetic", str(tmp_path)])
    assert balance == BalanceConfig(synthetic=(tmp_path,))
    quality = _built_config(monkeypatch, "xgan.quality", "run_quality", ["quality", "--synthetic", str(tmp_path)])
    assert quality == QualityConfig(synthetic=str(tmp_path))


def test_a_changed_config_default_reaches_the_cli_and_its_help(monkeypatch):
    import dataclasses

    from xgan.classifier.classify_config import ClassifyConfig

    field = next(f for f in dataclasses.fields(ClassifyConfig) if f.name == "patience")
    monkeypatch.setattr(field, "default", 5)
    result = CliRunner().invoke(cli, ["classify", "--help"], terminal_width=1000)
    assert "(best weights restored).  [default: 5; x>=0]" in result.output
    assert _built_config(monkeypatch, "xgan.classifier.classify", "classify", ["classify"]).patience == 5
