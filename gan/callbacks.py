"""Keras callbacks that turn a `fit` into a self-describing run folder.

`RunRecorder` keeps the history (every numeric value any callback put into `logs`), writes preview
grids from fixed latents, the loss plot, resume checkpoints and generator snapshots, warns about
collapse, stops on NaN, and stops after the current epoch when asked to (Ctrl-C, SIGTERM).
`ProgressBar` shows the losses with tqdm.
"""

import logging
import math
import time
from pathlib import Path

import keras
import numpy as np

from ..progress import progress_bar
from ..runs import write_history
from .run_state import save_snapshot, save_training_state
from .config import GanConfig
from .health import SHOWN_KEYS, discriminator_wins, has_non_finite_loss, image_diversity, is_collapsed
from .plot import plot_history
from .preview import save_image_grid
from .sample import generate_from_latents

log = logging.getLogger("xgan")

PREVIEW_DIR = "previews"
# The loss figure (losses.png) is redrawn with a checkpoint at most this often, and always at the end or a stop.
FIGURE_SECONDS = 30.0


def preview_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / PREVIEW_DIR / f"epoch_{epoch:04d}.png"


class RunRecorder(keras.callbacks.Callback):
    """Record each epoch into the run folder; must come after callbacks whose logs it records.

    Attributes set while training:
        diverged_at: the epoch whose loss was NaN/infinite, or None.
        stopped_at: the epoch after which a stop request was honoured, or None.
        last_checkpoint: the epoch of the newest resume checkpoint written, or None.
        last_preview: the epoch of the newest preview grid written, or None.
    """

    def __init__(self, run_dir: Path, config: GanConfig, history: list[dict], num_epochs: int,
                 preview_latents: np.ndarray, real_diversity: float, last_checkpoint: int | None = None,
                 preview_labels: np.ndarray | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.config = config
        self.history = history
        self.num_epochs = num_epochs
        self.preview_latents = preview_latents
        self.preview_labels = preview_labels  # a conditional run's class per preview image, one row per class
        self.real_diversity = real_diversity
        self.last_checkpoint = last_checkpoint
        self.stop_requested: str | None = None
        self.stop_signal: int | None = None
        self.diverged_at: int | None = None
        self.stopped_at: int | None = None
        self.last_preview: int | None = None
        self._warned: set[str] = set()
        self._epoch_start = time.perf_counter()
        self._figure_drawn = -math.inf  # time.monotonic() of the last losses.png

    def request_stop(self, reason: str) -> None:
        """Ask training to stop after the current epoch, with a checkpoint (called from a signal handler)."""
        self.stop_requested = reason

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        step = int(self.model.g_optimizer.iterations.numpy())
        entry = {"epoch": done, "step": step, "kimg": round(step * self.config.batch_size / 1000, 3)}
        entry.update({key: float(value) for key, value in (logs or {}).items() if _is_number(value)})
        entry["seconds"] = round(time.perf_counter() - self._epoch_start, 3)
        self.history.append(entry)
        if has_non_finite_loss(entry):
            self.diverged_at = done
            self.model.stop_training = True
            self.write_history()
            return
        last = done == self.num_epochs
        if done % self.config.preview_every == 0 or last:
            self.write_preview(done)
        self.check_discriminator()
        stopping = self.stop_requested is not None
        if stopping or last or done % self.config.snapshot_every == 0:
            save_snapshot(self.run_dir, self.model, done)
        checkpoint = stopping or last or done % self.config.checkpoint_every == 0
        if checkpoint or done % self.config.preview_every == 0:
            # The figure with a checkpoint, and at most once per FIGURE_SECONDS but at the end or a stop: drawing it
            # takes a quarter to a half of a second, redrawn at every preview it was 7 CPU s of the default study's GAN,
            # at each of its 14 checkpoints about 6 (benchmarks/README.md, "The study's CPU, again" and "Pooling first
            # and several steps per call").
            now = time.monotonic()
            figure = checkpoint and (stopping or last or now - self._figure_drawn >= FIGURE_SECONDS)
            self.write_history(figure=figure)
            if figure:
                self._figure_drawn = now
        # The resume checkpoint last: once it says `done`, that epoch's snapshot and history are on disk. A kill
        # between them leaves the previous checkpoint, and resume trains that epoch again and writes them; written
        # first, a kill right after the last epoch's checkpoint left a "finished" run without its final snapshot.
        if stopping or last or done % self.config.checkpoint_every == 0:
            save_training_state(self.run_dir, self.model, done, _json_history(self.history))
            self.last_checkpoint = done
        if stopping:
            self.stopped_at = done
            self.model.stop_training = True

    def write_history(self, figure: bool = True) -> None:
        """Write history.json and, with `figure`, losses.png."""
        history = _json_history(self.history)
        write_history(self.run_dir, history)
        if figure:
            plot_history(history, self.run_dir / "losses.png")

    def write_preview(self, epoch: int) -> None:
        """Write the preview grid of the fixed latents, and warn when the images all look alike."""
        images = generate_from_latents(self.model.ema_generator, self.preview_latents, self.preview_labels)
        columns = None if self.preview_labels is None else int(np.sum(self.preview_labels == self.preview_labels[0]))
        save_image_grid(preview_path(self.run_dir, epoch), images, columns)
        self.last_preview = epoch
        diversity = image_diversity(images)
        self.history[-1]["preview_diversity"] = round(diversity, 3)
        best = max((e.get("preview_diversity", 0.0) for e in self.history), default=0.0)
        self._warn_once("collapse", is_collapsed(diversity, self.real_diversity, best),
                        f"epoch {epoch}: the preview images vary {diversity:.1f} gray levels per pixel against "
                        f"{self.real_diversity:.1f} for the real images: the generator has probably collapsed "
                        f"to a few images (see {preview_path(self.run_dir, epoch)})")

    def check_discriminator(self) -> None:
        entry = self.history[-1]
        self._warn_once("discriminator", discriminator_wins(self.history),
                        f"epoch {entry['epoch']}: the discriminator has told real from fake almost perfectly "
                        f"for 10 epochs (real {entry.get('d_real_acc', 0):.2f}, fake {entry.get('d_fake_acc', 0):.2f}): "
                        "training has probably collapsed or diverged; look at the previews, and consider an earlier "
                        "snapshot or a stronger --augment policy")

    def _warn_once(self, kind: str, condition: bool, message: str) -> None:
        # Warn when a condition appears, not on every epoch it lasts; warn again if it comes back.
        if condition and kind not in self._warned:
            self._warned.add(kind)
            log.warning(message)
        elif not condition:
            self._warned.discard(kind)


class ProgressBar(keras.callbacks.Callback):
    """A tqdm bar over epochs showing the latest losses and discriminator accuracies."""

    def __init__(self, num_epochs: int, initial_epoch: int = 0, description: str = "GAN"):
        super().__init__()
        self.num_epochs = num_epochs
        self.initial_epoch = initial_epoch
        self.description = description
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = progress_bar(self.num_epochs, self.description, "epoch", initial=self.initial_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is None:
            return
        shown = {key: f"{float(logs[key]):.3f}" for key in SHOWN_KEYS if logs and key in logs}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)


def _json_history(history: list[dict]) -> list[dict]:
    """History with NaN/infinite values as None, so that it is valid JSON."""
    return [{key: (None if isinstance(value, float) and not math.isfinite(value) else value) for key, value in entry.items()}
            for entry in history]
