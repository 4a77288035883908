"""Run by test_distribute.py in fresh processes (TensorFlow's devices and cluster are fixed at start-up).

    python tests/distribute_worker.py mirrored DATA OUT   # 2 logical CPUs: default vs mirrored, GAN (with resume) and classifier
    python tests/distribute_worker.py worker DATA OUT     # one worker of a multi-worker GAN run (TF_CONFIG set by the test)
    python tests/distribute_worker.py classifier DATA OUT # one worker of a multi-worker `xgan classify` run, and classifier losses
    python tests/distribute_worker.py study DATA OUT      # 2 logical CPUs: a tiny `xgan run --strategy mirrored`

Prints one JSON line: the per-epoch losses of every run.
"""

import json
import sys
from pathlib import Path


def gan_config(data: str, out: str, strategy: str, epochs: int = 2):
    from xgan.gan import GanConfig

    return GanConfig(data=data, image_size=32, latent_dim=16, width=8, batch_size=8, epochs=epochs, preview_every=1,
                     checkpoint_every=1, snapshot_every=10, out=out, seed=3, strategy=strategy)


def gan_losses(run_dir: Path) -> list[list[float]]:
    history = json.loads((Path(run_dir) / "history.json").read_text())
    return [[entry["d_loss"], entry["g_loss"]] for entry in history]


def classifier_losses(strategy: str) -> dict:
    """Per-epoch losses of the classifier (no dropout): built and fitted as train_classifier does, on batches
    in a fixed order (tf.data's shuffle order under a mirrored strategy differs from the one-device order),
    and of train_classifier itself (shuffled), with its validation losses."""
    import keras
    import numpy as np

    from xgan.classifier.config import ClassifierConfig
    from xgan.classifier.model import build_classifier, compile_classifier
    from xgan.classifier.train import make_dataset, train_classifier
    from xgan.runtime.distribute import make_strategy, prepare_multi_worker_fit

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 16, 16), dtype=np.uint8)
    labels = (images.mean(axis=(1, 2)) > 127).astype(int)
    config = ClassifierConfig(image_size=16, conv_filters=(4, 8), dense_units=(8,), dropout=0.0, epochs=2, batch_size=8, seed=1)
    keras.utils.set_random_seed(config.seed)
    with make_strategy(strategy).scope():
        model = compile_classifier(build_classifier(config), config)
    data = make_dataset(images, labels, config.batch_size)
    prepare_multi_worker_fit(model, make_strategy(strategy), data.element_spec)
    fitted = model.fit(data, epochs=config.epochs, verbose=0)
    shuffled = train_classifier(config, images, labels, (images[:16], labels[:16]), strategy=strategy)
    return {"fixed_order": fitted.history["loss"], "train_classifier": [entry["loss"] for entry in shuffled.history],
            "val_loss": [entry["val_loss"] for entry in shuffled.history]}


def main() -> None:
    mode, data, out = sys.argv[1:4]
    import tensorflow as tf

    if mode in ("mirrored", "study"):
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from xgan.gan import resume_gan, train_gan

    if mode == "mirrored":
        result = {"gan_default": gan_losses(train_gan(gan_config(data, f"{out}/default", "default"))),
                  "gan_mirrored": gan_losses(train_gan(gan_config(data, f"{out}/mirrored", "mirrored")))}
        # One epoch on one device, then resumed for the second under the mirrored strategy.
        half = train_gan(gan_config(data, f"{out}/resumed", "default", epochs=1))
        result["gan_resumed_mirrored"] = gan_losses(resume_gan(half, epochs=2, strategy="mirrored"))
        result["classifier_default"] = classifier_losses("default")
        result["classifier_mirrored"] = classifier_losses("mirrored")
        from xgan.runtime.distribute import make_strategy

        result["replicas"] = make_strategy("mirrored").num_replicas_in_sync
    elif mode == "study":
        from xgan.cli import cli
        from xgan.runtime.distribute import make_strategy

        cli.main(["run", "--data", data, "--out", out, "--size", "32", "--gan-epochs", "2", "--classifier-epochs", "1", "--seeds", "1",
                  "--num-synthetic", "24", "--ratio", "auto", "--no-quality", "--strategy", "mirrored"], standalone_mode=False)
        result = {"replicas": make_strategy("mirrored").num_replicas_in_sync}
    elif mode == "worker":
        from xgan.runtime.distribute import is_chief, make_strategy

        strategy = make_strategy("multi-worker")
        run_dir = train_gan(gan_config(data, out, "multi-worker"))
        result = {"chief": is_chief(strategy), "replicas": strategy.num_replicas_in_sync,
                  "gan": gan_losses(run_dir) if is_chief(strategy) else None}
    else:
        from xgan.cli import cli
        from xgan.runtime.distribute import is_chief, make_strategy

        strategy = make_strategy("multi-worker")
        cli.main(["classify", "--data", data, "--out", out, "--size", "16", "--epochs", "2", "--batch-size", "8",
                  "--strategy", "multi-worker"], standalone_mode=False)
        result = {"chief": is_chief(strategy), "replicas": strategy.num_replicas_in_sync,
                  "classifier": classifier_losses("multi-worker")}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
