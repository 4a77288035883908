"""Saving and restoring GAN training state, and the generator snapshots that sampling loads.

A run folder holds two kinds of files:

- `checkpoints/state.npz`: everything needed to continue exactly (both networks, the EMA
  generator, both optimizers' moments and step counters, the random-number state) plus the epoch
  and the history up to it. It is replaced in one rename, so a kill at any moment leaves the
  previous complete file or the new one.
- `snapshots/epoch_0050.npz`, ...: the EMA generator alone (about a third of a state file), saved
  every `snapshot_every` epochs and at the end, for sampling and checkpoint selection.

Files are plain `.npz` archives of arrays plus one JSON string: loading never runs code. Arrays are
keyed by group and variable path (`generator/up1_bn/gamma`, `g_optimizer/adam/up1_kernel_momentum`)
and restored by name, so a model that lists its variables in another order still gets each its own
array, and a variable missing, unknown or of another shape is refused by name. Files written
before (keys `generator.0000`, ...) are restored by position, as they were.
"""

import json
import re
from pathlib import Path

import numpy as np

from ..errors import UserError, invalid_argument
from ..runs import atomic_path, read_gan_config
from ..runtime.variable_state import assign_named, named_arrays
from .config import GanConfig

STATE_FILE = Path("checkpoints") / "state.npz"
SNAPSHOT_DIR = "snapshots"
_SNAPSHOT_NAME = re.compile(r"^epoch_(\d+)$")
META_KEY = "meta_json"


def write_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write named arrays and a JSON-able dict into one .npz, atomically."""
    with atomic_path(Path(path)) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays, **{META_KEY: np.array(json.dumps(meta))})


def read_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read what `write_arrays` wrote.

    Raises:
        UserError: the file is missing or not a readable archive.
    """
    try:
        with np.load(Path(path), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays.pop(META_KEY)))
    except FileNotFoundError:
        raise UserError(f"{path}: no such checkpoint file") from None
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"{path}: not a readable xgan checkpoint ({error})") from None
    return arrays, meta


_POSITIONAL_KEY = re.compile(r"^(?P<group>\w+)\.(?P<index>\d{4})$")  # how files before by-name saving kept arrays
OPTIMIZER_GROUPS = frozenset({"g_optimizer", "d_optimizer"})


def _group_arrays(prefix: str, variables) -> dict[str, np.ndarray]:
    """A group's arrays keyed `<prefix>/<variable path>` (`generator/up1_bn/gamma`)."""
    arrays = named_arrays(variables, optimizer=prefix in OPTIMIZER_GROUPS)
    return {f"{prefix}/{name}": value for name, value in arrays.items()}


def _assign_group(prefix: str, variables, arrays: dict[str, np.ndarray], source: Path) -> None:
    """Restore a group by variable path, refusing by name any variable missing, unknown or of another shape.

    A file written before variables were saved by name (keys `<prefix>.0000`, ...) is restored by position,
    with count and shapes checked, as it always was.
    """
    variables = list(variables)
    positional = sorted(key for key in arrays if (match := _POSITIONAL_KEY.match(key)) and match["group"] == prefix)
    if positional:
        _assign_by_position(prefix, variables, {key: arrays[key] for key in positional}, source)
        return
    named = {key[len(prefix) + 1:]: value for key, value in arrays.items() if key.startswith(prefix + "/")}
    try:
        assign_named(variables, named, f"{source} ({prefix})", optimizer=prefix in OPTIMIZER_GROUPS)
    except ValueError as error:
        raise UserError(f"{error}. The file belongs to another configuration or xgan version") from None


def _assign_by_position(prefix: str, variables: list, stored: dict[str, np.ndarray], source: Path) -> None:
    if len(stored) != len(variables):
        raise UserError(f"{source}: holds {len(stored)} {prefix} arrays; the model built from config.json has {len(variables)}. The file belongs to another configuration")
    for key, variable in zip(sorted(stored), variables):
        value = stored[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise UserError(f"{source}: {prefix} array {key} has shape {value.shape}; the model expects {tuple(variable.shape)}")
    for key, variable in zip(sorted(stored), variables):
        variable.assign(stored[key])


def training_state_groups(model) -> dict[str, list]:
    """Every variable a DCGAN needs to continue training exactly, by group (the adaptive augmentation's probability when it has one).

    A diffusion model's groups: its U-Net ("generator"), the DDIM generator around the U-Net's average
    ("ema_generator": the average and the images' mean and spread), its optimizer and the random state.
    """
    if not hasattr(model, "discriminator"):
        return {"generator": model.generator.weights, "ema_generator": model.ema_generator.weights,
                "g_optimizer": model.g_optimizer.variables, "seed": [model.seed_generator.state]}
    groups = {
        "generator": model.generator.weights,
        "discriminator": model.discriminator.weights,
        "ema_generator": model.ema_generator.weights,
        "g_optimizer": model.g_optimizer.variables,
        "d_optimizer": model.d_optimizer.variables,
        "seed": [model.seed_generator.state],
    }
    if getattr(model, "augment_probability", None) is not None:
        groups["augment_probability"] = [model.augment_probability]
    return groups


NETWORK_GROUPS = ("generator", "discriminator", "ema_generator")


def restore_networks(source_run: Path, model) -> dict:
    """Start a model from another run's networks (transfer): its checkpoint's generator, discriminator and EMA generator.

    The optimizers, the random state and the augmentation probability start afresh.

    Raises:
        UserError: the run has no checkpoint, or its networks have another architecture.
    """
    path = Path(source_run) / STATE_FILE
    if not path.is_file():
        raise UserError(f"{source_run}: has no checkpoint ({STATE_FILE}) to start from; expected a GAN run folder written by `xgan train` (option --init-from)")
    arrays, meta = read_arrays(path)
    groups = training_state_groups(model)
    for prefix in NETWORK_GROUPS:
        _assign_group(prefix, groups[prefix], arrays, path)
    return meta


def save_training_state(run_dir: Path, model, epoch: int, history: list[dict]) -> Path:
    """Write the complete training state after `epoch` completed epochs; returns the file."""
    arrays = {}
    for prefix, variables in training_state_groups(model).items():
        arrays.update(_group_arrays(prefix, variables))
    meta = {"epoch": epoch, "step": int(model.g_optimizer.iterations.numpy()), "history": history}
    path = Path(run_dir) / STATE_FILE
    write_arrays(path, arrays, meta)
    return path


def read_training_state_meta(run_dir: Path) -> dict:
    """The epoch, step and history stored in a run's resume checkpoint."""
    return read_arrays(Path(run_dir) / STATE_FILE)[1]


def restore_training_state(run_dir: Path, model) -> dict:
    """Load the run's resume checkpoint into a compiled DCGAN whose optimizers are built.

    Returns:
        The stored meta: `epoch`, `step` and `history`.
    """
    path = Path(run_dir) / STATE_FILE
    arrays, meta = read_arrays(path)
    for prefix, variables in training_state_groups(model).items():
        _assign_group(prefix, variables, arrays, path)
    return meta


def snapshot_name(epoch: int) -> str:
    return f"epoch_{epoch:04d}"


def save_snapshot(run_dir: Path, model, epoch: int) -> Path:
    """Write the EMA generator's weights after `epoch` epochs to snapshots/epoch_NNNN.npz."""
    path = Path(run_dir) / SNAPSHOT_DIR / f"{snapshot_name(epoch)}.npz"
    meta = {"epoch": epoch, "step": int(model.g_optimizer.iterations.numpy()),
            "images_seen": int(model.g_optimizer.iterations.numpy()) * model.batch_size}
    write_arrays(path, _group_arrays("ema_generator", model.ema_generator.weights), meta)
    return path


def list_checkpoints(run_dir: Path) -> list[str]:
    """Names of a run's generator snapshots, oldest first (e.g. ["epoch_0050", "epoch_0100"])."""
    folder = Path(run_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        return []
    names = [p.stem for p in folder.glob("epoch_*.npz") if _SNAPSHOT_NAME.match(p.stem)]
    return sorted(names, key=lambda name: int(_SNAPSHOT_NAME.match(name).group(1)))


def load_generator(run_dir: Path, checkpoint: str | None = None, class_name: str | None = None):
    """Rebuild a run's EMA generator from its config.json and one snapshot.

    Args:
        run_dir: a GAN run folder.
        checkpoint: a name from `list_checkpoints`; None = the latest.
        class_name: the class to draw from a conditional run (required there); for a one-class
            run, None or that run's class.

    Returns:
        (generator, info): a `keras.Model` from latents to images (a conditional generator comes
        bound to `class_name`) and a dict with `latent_dim`, `image_size`, `step`, `epoch`,
        `checkpoint` (the name), `class_name`, `dataset`, `dataset_fingerprint`, `run`, `model` (the
        family: "dcgan" or "ddim", whose generator draws by DDIM from one noise value per pixel).

    Raises:
        UserError: not a GAN run, no snapshots yet, an unknown checkpoint name, or a class the
            run cannot draw.
    """
    from .models import build_generator

    run_dir = Path(run_dir)
    values = read_gan_config(run_dir)
    config = GanConfig.from_dict(values)
    class_index = _class_to_draw(run_dir, values, class_name)
    names = list_checkpoints(run_dir)
    if not names:
        raise UserError(f"{run_dir}: no generator snapshots in {SNAPSHOT_DIR}/ yet; train longer (they are saved every snapshot_every epochs and at the end)")
    name = checkpoint or names[-1]
    if name not in names:
        raise invalid_argument("checkpoint", f"one of {', '.join(names)}", name)
    path = run_dir / SNAPSHOT_DIR / f"{name}.npz"
    arrays, meta = read_arrays(path)
    if config.conditional:
        from .conditional import bind_class
        from .conditional_models import build_conditional_generator

        conditional = build_conditional_generator(config.image_size, config.latent_dim, config.width, len(values["class_names"]))
        _assign_group("ema_generator", conditional.weights, arrays, path)
        generator = bind_class(conditional, class_index)
        class_name = values["class_names"][class_index]
    elif config.model == "ddim":
        from .diffusion import build_sampler, build_unet

        generator = build_sampler(build_unet(config.image_size, config.width, name="ema_unet"), config.sampling_steps)
        _assign_group("ema_generator", generator.weights, arrays, path)
        class_name = values.get("class_name")
    else:
        generator = build_generator(config.image_size, config.latent_dim, config.width, upsample=config.upsample)
        _assign_group("ema_generator", generator.weights, arrays, path)
        class_name = values.get("class_name")
    info = {
        "latent_dim": config.latent_dim, "image_size": config.image_size, "step": meta["step"],
        "epoch": meta["epoch"], "checkpoint": name, "class_name": class_name,
        "dataset": values.get("dataset"), "dataset_fingerprint": values.get("dataset_fingerprint"),
        "run": str(run_dir), "model": config.model,
    }
    return generator, info


def _class_to_draw(run_dir: Path, values: dict, class_name: str | None) -> int | None:
    """The label index to bind a conditional run's generator to; None for a one-class run."""
    if not values.get("conditional"):
        own = values.get("class_name")
        if class_name is not None and own is not None and class_name != own:
            raise invalid_argument("class_name", f"{own!r}, the only class the GAN run {run_dir} learned", class_name, option="--class")
        return None
    names = list(values.get("class_names") or [])
    if class_name is None:
        raise UserError(f"{run_dir}: a conditional GAN run draws any of its classes; pass --class, one of {', '.join(names)}")
    if class_name not in names:
        raise invalid_argument("class_name", f"one of {', '.join(names)}", class_name, option="--class")
    return names.index(class_name)
