"""Generator training and sampling for one class of a chest X-ray dataset: a DCGAN, or with
`GanConfig(model="ddim")` a small diffusion model drawn by DDIM.

Public API (contract 1): `GanConfig`, `train_gan`, `resume_gan`, `load_generator`,
`list_checkpoints`, `generate_images`, `sample_to_folder`, `make_image_grid`, `training_problems`.

Names are imported on first use, so that `from xgan.gan import GanConfig` (and the CLI's option
checks) do not wait for TensorFlow to start.
"""

import importlib

_EXPORTS = {
    "GanConfig": ".config",
    "train_gan": ".train",
    "resume_gan": ".train",
    "TrainingStopped": ".train",
    "load_generator": ".run_state",
    "list_checkpoints": ".run_state",
    "generate_images": ".sample",
    "sample_to_folder": ".sample",
    "make_image_grid": ".preview",
    "training_problems": ".health",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
