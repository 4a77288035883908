"""`train_gan` and `resume_gan`: a DCGAN run on one class of the training split, in its own folder.

A run folder (contract 1; its file names and readers live in `xgan.runs`) holds its config, the
keys of the real images it read, `reals.png`, `previews/`, its history, `losses.png`,
`checkpoints/state.npz` (exact resume) and `snapshots/` (EMA generators for sampling). A run is never overwritten: `train_gan` always makes a new folder, and
`resume_gan` only continues a run from its own checkpoint.
"""

import contextlib
import dataclasses
import logging
import math
import shutil
import signal
import threading
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import UserError
from ..runs import (TRAINING_KEYS_FILE, atomic_path, is_gan_run, latest_run_dir, new_run_dir, read_gan_config, read_history, read_training_keys,
                    write_gan_config, write_training_keys)
from .run_state import STATE_FILE, list_checkpoints, read_training_state_meta, restore_networks, restore_training_state
from .config import GanConfig
from .data import TrainingData, load_training_data
from .health import REAL_DIVERSITY_KEY, SHOWN_KEYS, image_diversity, training_problems
from .preview import save_image_grid

log = logging.getLogger("xgan")

NUM_PREVIEW_IMAGES = 64
PREVIEW_COLUMNS = 8  # a conditional run's preview: one row of this many images per class
REALS_GRID_MAX = 64


class TrainingStopped(UserError):
    """Training ended early: a stop signal (after saving a checkpoint) or a NaN loss.

    Attributes:
        run_dir: the run folder.
        epoch: the last completed epoch.
        checkpoint_epoch: the epoch of the newest resume checkpoint, or None.
        signal_number: the signal that stopped it, or None.
    """

    def __init__(self, message: str, run_dir: Path, epoch: int, checkpoint_epoch: int | None, signal_number: int | None = None):
        super().__init__(message)
        self.run_dir = run_dir
        self.epoch = epoch
        self.checkpoint_epoch = checkpoint_epoch
        self.signal_number = signal_number


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    """Steps in one epoch: one pass over the images, at least one step."""
    return max(1, num_images // batch_size)


def resolve_epochs(config: GanConfig, num_images: int) -> int:
    """Epochs to train: `config.epochs`, or enough for `config.kimg` thousand real images."""
    if config.kimg is None:
        return config.epochs
    return max(1, math.ceil(config.kimg * 1000 / (steps_per_epoch(num_images, config.batch_size) * config.batch_size)))


def train_gan(config: GanConfig, callbacks=()) -> Path:
    """Train a DCGAN in a new run folder `<config.out>/NNNNN-gan-<class>/`.

    Args:
        config: the run's options.
        callbacks: extra `keras.callbacks.Callback`s. In them `self.model` is the `DCGAN`:
            `self.model.ema_generator` (the generator to sample from, e.g. with
            `generate_images(self.model.ema_generator, n, seed, self.model.latent_dim)`),
            `.generator`, `.discriminator`, `.latent_dim`, `.image_size` and `.training_images`
            ((N, S, S) uint8). Any number a callback puts into `logs` in `on_epoch_end` (e.g.
            `logs["kid"] = 0.05`) is recorded in history.json and plotted in losses.png. They run
            before the run folder is written for that epoch.

    Returns:
        The run folder.

    Raises:
        UserError: bad data or options.
        TrainingStopped: interrupted (a checkpoint was saved) or diverged (the last good
            checkpoint is kept); its message says how to resume.
    """
    data = load_training_data(config.data, config.class_name, config.image_size, config.splits, config.split_seed,
                              config.conditional, config.every_class)
    if config.init_from and not (Path(config.init_from) / STATE_FILE).is_file():
        raise UserError(f"{config.init_from}: has no checkpoint ({STATE_FILE}) to start from; expected a GAN run folder "
                        "written by `xgan train` (option --init-from)")
    with _worker_out(config) as out:
        run_dir = _new_run(dataclasses.replace(config, out=str(out)), data)
        return _train(run_dir, config, data, resume=False, callbacks=callbacks)


def _worker_out(config: GanConfig):
    """The parent folder of the run (`distribute.run_parent`): a temporary one on a non-chief worker."""
    from ..runtime.distribute import run_parent

    return run_parent(config.out, config.strategy)


@contextlib.contextmanager
def _worker_run_dir(run_dir: Path, config: GanConfig):
    """The run folder to resume in: `run_dir`, or a temporary copy of it on a non-chief worker."""
    with _worker_out(config) as out:
        if out == Path(config.out):
            yield run_dir
            return
        copy = out / run_dir.name
        shutil.copytree(run_dir, copy)
        yield copy


def find_resumable_run(run_dir: Path | str | None, parent: Path | str = "samples") -> Path:
    """The run to resume: `run_dir`, or the latest GAN run under `parent` that has a checkpoint."""
    if run_dir is not None:
        run_dir = Path(run_dir)
        if not is_gan_run(run_dir):
            raise UserError(f"{run_dir}: not a GAN run folder (no {TRAINING_KEYS_FILE}); expected a folder written by `xgan train`")
        if not (run_dir / STATE_FILE).is_file():
            raise UserError(f"{run_dir}: has no checkpoint ({STATE_FILE}) yet; it stopped before the first one was written, so start a new run")
        return run_dir
    found = latest_run_dir(Path(parent), str(STATE_FILE))
    if found is None:
        raise UserError(f"{parent}: no GAN run with a checkpoint to resume; start one with `xgan train`")
    return found


def resume_gan(run_dir: Path | str | None = None, *, parent: Path | str = "samples", epochs: int | None = None,
               kimg: float | None = None, strategy: str | None = None, callbacks=()) -> Path:
    """Continue a run from its checkpoint, exactly as if it had not stopped.

    Args:
        run_dir: the run folder; None = the latest GAN run under `parent` with a checkpoint.
        epochs, kimg: a new length (only one); None keeps the run's own. Extending a finished
            run needs a length beyond what it has done.
        strategy: the tf.distribute strategy to continue under; None keeps the run's own. A step
            is the same under every strategy (see distribute.py), so a run may move between them.
        callbacks: as for `train_gan`.

    Returns:
        The run folder.

    Raises:
        UserError: no such run, nothing left to do, or the data changed since the run began.
        TrainingStopped: as for `train_gan`.
    """
    run_dir = find_resumable_run(run_dir, parent)
    saved = read_gan_config(run_dir)
    config = GanConfig.from_dict(saved)
    done = int(read_training_state_meta(run_dir)["epoch"])
    if epochs is not None or kimg is not None:
        config = dataclasses.replace(config, epochs=epochs if epochs is not None else config.epochs, kimg=kimg)
    if strategy is not None:
        config = dataclasses.replace(config, strategy=strategy)
    data = load_training_data(config.data, config.class_name, config.image_size, config.splits, config.split_seed,
                              config.conditional, config.every_class)
    _check_same_data(run_dir, saved, data)
    target = resolve_epochs(config, len(data.keys))
    if target <= done:
        raise UserError(f"{run_dir}: has already trained {done} of {target} epochs; pass --epochs larger than {done} "
                        "to extend it, or leave out --resume to start a new run")
    with _worker_run_dir(run_dir, config) as working_dir:
        _write_config(working_dir, config, data)
        log.info("resuming %s at epoch %d of %d", run_dir, done, target)
        _train(working_dir, config, data, resume=True, callbacks=callbacks)
    return run_dir


def _check_same_data(run_dir: Path, saved: dict, data: TrainingData) -> None:
    keys = read_training_keys(run_dir)
    if keys != data.keys or saved.get("dataset_fingerprint") != data.dataset.fingerprint:
        raise UserError(f"{run_dir}: the dataset or its split changed since this run began "
                        f"({len(keys)} training images then, {len(data.keys)} now); start a new run instead of resuming")


def _new_run(config: GanConfig, data: TrainingData) -> Path:
    run_dir = new_run_dir(Path(config.out), f"gan-{data.description}")
    _write_config(run_dir, config, data)
    write_training_keys(run_dir, data.keys)
    save_image_grid(run_dir / "reals.png", data.images[:REALS_GRID_MAX])
    return run_dir


def _write_config(run_dir: Path, config: GanConfig, data: TrainingData) -> None:
    values = config.to_dict()
    values.update({
        "class_name": data.class_name,
        "dataset": str(data.dataset.source.resolve()),
        "dataset_name": data.dataset.name,
        "dataset_fingerprint": data.dataset.fingerprint,
        "splits": str(data.splits.path.resolve()),
        "num_training_images": len(data.keys),
        "steps_per_epoch": steps_per_epoch(len(data.keys), config.batch_size),
        "num_epochs": resolve_epochs(config, len(data.keys)),
        REAL_DIVERSITY_KEY: round(real_preview_diversity(data), 3),
        "xgan_version": __version__,
    })
    if data.labels is not None:  # a conditional run: its classes in label order, and their image counts
        values["class_names"] = data.class_names
        values["class_counts"] = {name: int((data.labels == index).sum()) for index, name in enumerate(data.class_names)}
    write_gan_config(run_dir, values)


def real_preview_diversity(data: TrainingData) -> float:
    """How much the first preview-sized sample of real images varies: the yardstick of collapse."""
    return image_diversity(data.images[:NUM_PREVIEW_IMAGES])


def _train(run_dir: Path, config: GanConfig, data: TrainingData, resume: bool, callbacks) -> Path:
    # TensorFlow is imported here, after the data and options were checked, so that mistakes are
    # reported without waiting for its start-up.
    from .callbacks import ProgressBar, RunRecorder
    from .fit import build_model, fit_model

    from ..runtime.distribute import check_global_batch, make_strategy, prepare_multi_worker_fit

    num_epochs = resolve_epochs(config, len(data.keys))
    strategy = make_strategy(config.strategy)
    check_global_batch(config.batch_size, strategy)
    with strategy.scope():
        model = build_model(config, data.images, data.labels, data.class_names)
    prepare_multi_worker_fit(model, strategy)
    history, start_epoch, last_checkpoint = [], 0, None
    if config.init_from and not resume:
        source = restore_networks(Path(config.init_from), model)
        log.info("starting from the networks of %s (epoch %s)", config.init_from, source.get("epoch"))
    if resume:
        meta = restore_training_state(run_dir, model)
        start_epoch = last_checkpoint = int(meta["epoch"])
        history = [entry for entry in meta["history"] if entry["epoch"] <= start_epoch]
    preview_latents, preview_labels = _preview_inputs(run_dir, config, data)
    recorder = RunRecorder(run_dir, config, history, num_epochs, preview_latents, real_preview_diversity(data), last_checkpoint,
                           preview_labels)
    if resume:
        recorder.write_history()
    progress = ProgressBar(num_epochs, start_epoch, description=f"{'DDIM' if config.model == 'ddim' else 'GAN'} {data.description}")
    with _stop_on_signals(recorder):
        fit_model(model, config, num_epochs, start_epoch, len(data.keys), [progress, *callbacks, *_tensorboard(run_dir, config, recorder)])
    _raise_if_stopped(run_dir, recorder, num_epochs)
    log.info("GAN run finished: %s (%d epochs)", run_dir, num_epochs)
    return run_dir


def _tensorboard(run_dir: Path, config: GanConfig, recorder) -> list:
    """The recorder, with TensorBoard's scalars before it and the preview grids after it when asked for.

    The scalars see what earlier callbacks (a KID monitor) added to the logs; the preview grid is
    the PNG the recorder has just written.
    """
    if not config.tensorboard:
        return [recorder]
    from ..datasets.images import read_gray
    from ..runtime.tensorboard_logs import ImageLogger, tensorboard_callback
    from .callbacks import preview_path

    def written_preview(epoch: int):
        return read_gray(preview_path(run_dir, epoch)) if recorder.last_preview == epoch else None

    return [tensorboard_callback(run_dir), recorder, ImageLogger(run_dir, "preview", written_preview)]


def _preview_inputs(run_dir: Path, config: GanConfig, data: TrainingData) -> tuple[np.ndarray, np.ndarray | None]:
    """The preview's latents and labels: a conditional run shows one row per class, the same
    `PREVIEW_COLUMNS` latents in every row, so a column shows what the class alone changes."""
    latents = _preview_latents(run_dir, config)
    if data.labels is None:
        return latents, None
    num_classes = len(data.class_names)
    labels = np.repeat(np.arange(num_classes, dtype=np.int32), PREVIEW_COLUMNS)
    return np.tile(latents[:PREVIEW_COLUMNS], (num_classes, 1)), labels


def _preview_latents(run_dir: Path, config: GanConfig) -> np.ndarray:
    """Latents drawn once per run (and kept in the run folder) so previews can be compared."""
    path = run_dir / "previews" / "latents.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    latents = np.random.default_rng([config.seed, 1]).standard_normal((NUM_PREVIEW_IMAGES, config.latent_dim), dtype=np.float32)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.save(handle, latents)
    return latents


def _raise_if_stopped(run_dir: Path, recorder, num_epochs: int) -> None:
    if recorder.diverged_at is not None:
        kept = (f"the last good checkpoint (epoch {recorder.last_checkpoint}) is kept; resume from it with "
                f"`xgan train --resume {run_dir}`, perhaps with a lower learning rate in a new run"
                if recorder.last_checkpoint else "no checkpoint had been written yet")
        raise TrainingStopped(f"{run_dir}: training diverged at epoch {recorder.diverged_at} (NaN or infinite loss); {kept}",
                              run_dir, recorder.diverged_at - 1, recorder.last_checkpoint)
    if recorder.stopped_at is not None and recorder.stopped_at < num_epochs:
        name = signal.Signals(recorder.stop_signal).name if recorder.stop_signal else "stop request"
        raise TrainingStopped(f"{run_dir}: stopped by {name} after epoch {recorder.stopped_at} of {num_epochs}; "
                              f"checkpoint saved. Resume with: xgan train --resume {run_dir}",
                              run_dir, recorder.stopped_at, recorder.last_checkpoint, recorder.stop_signal)


@contextlib.contextmanager
def _stop_on_signals(recorder):
    """On SIGINT/SIGTERM, finish the current epoch, save a checkpoint and stop; a second signal stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signal_number, frame):
        name = signal.Signals(signal_number).name
        if recorder.stop_requested is not None:
            last = recorder.last_checkpoint
            raise TrainingStopped(f"{recorder.run_dir}: stopped at once by a second {name}, without saving; "
                                  + (f"the last checkpoint is from epoch {last}. Resume with: xgan train --resume {recorder.run_dir}"
                                     if last else "no checkpoint had been written yet"),
                                  recorder.run_dir, len(recorder.history), last, signal_number)
        recorder.request_stop(name)
        recorder.stop_signal = signal_number
        log.warning("%s received: finishing the current epoch, then saving a checkpoint (send it again to stop at once without saving)", name)

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_summary(run_dir: Path) -> str:
    """A few lines about a run folder: where it is, how far it got, its last losses, what to do next."""
    run_dir = Path(run_dir)
    config = read_gan_config(run_dir)
    history = read_history(run_dir)
    last = history[-1] if history else {}
    snapshots = list_checkpoints(run_dir)
    seconds = sum(entry.get("seconds") or 0 for entry in history)
    if config.get("conditional"):
        counts = config.get("class_counts") or {}
        learned = "conditional on every class (" + ", ".join(f"{count} {name}" for name, count in counts.items()) + ")"
        next_step = f"xgan sample --run {run_dir} --class {min(counts, key=counts.get) if counts else 'NAME'} --n 400"
    else:
        learned = f"class {config.get('class_name')!r}"
        next_step = f"xgan sample --run {run_dir} --n 400"
    family = "Diffusion (DDIM) run" if config.get("model") == "ddim" else "GAN run"
    lines = [
        f"{family}: {run_dir}",
        f"  {learned}: {config.get('num_training_images')} training images of {config.get('dataset_name')}, "
        f"{config.get('image_size')} px",
        f"  epochs: {last.get('epoch', 0)} of {config.get('num_epochs')} ({last.get('kimg', 0)} kimg, {seconds:.0f} s of training)",
    ]
    if last:
        lines.append("  last epoch: " + ", ".join(f"{key} {last[key]:.3f}" for key in SHOWN_KEYS
                                                  if isinstance(last.get(key), (int, float))))
    lines.append(f"  snapshots: {', '.join(snapshots) if snapshots else 'none'}; previews in {run_dir / 'previews'}, curves in {run_dir / 'losses.png'}")
    problems = training_problems(run_dir)
    if problems:
        lines.append("  PROBLEMS: this run has probably failed; look at its previews before sampling from it:")
        lines.extend(f"  - {problem}" for problem in problems)
        remedy = "a lower --learning-rate" if config.get("model") == "ddim" else "a lower --learning-rate or a stronger --augment"
        lines.append(f"  next: a new run (e.g. {remedy}), or an earlier snapshot: "
                     f"xgan quality --run {run_dir} --checkpoints all")
    else:
        lines.append(f"  next: {next_step}")
    return "\n".join(lines)
