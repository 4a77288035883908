"""Resident memory left behind by each model trained in one process, xgan's classifier against plain Keras.

Trains `--models` models one after another in this process on random 64 px images, as `xgan classify`'s loop
does (build, fit with validation, TTA predictions, `keras.backend.clear_session()`, garbage collection), and prints
the resident memory after each: as it is, and after glibc's `malloc_trim(0)` has returned freed heap to the system
(what remains is memory still held, not free heap kept by the allocator). `--plain` runs the same loop with a plain
Keras model of the same blocks (`model.fit`, `model.predict`), as a typical user writes it. Run each mode in its own
process (TensorFlow's state is per process):

    python benchmarks/memory_per_model.py --models 6
    python benchmarks/memory_per_model.py --models 6 --plain
"""

import argparse
import ctypes
import gc
import sys


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--images", type=int, default=8000, help="training images per model (random, 64 px)")
    parser.add_argument("--plain", action="store_true", help="a plain Keras model instead of xgan's classifier")
    args = parser.parse_args(argv)
    import numpy as np

    if not args.plain:
        import xgan  # noqa: F401  (xgan's TensorFlow settings)
    import keras

    trim = ctypes.CDLL("libc.so.6").malloc_trim
    rng = np.random.default_rng(0)
    validation = (rng.integers(0, 256, (1500, 64, 64), dtype=np.uint8), rng.integers(0, 2, 1500))
    test = rng.integers(0, 256, (1500, 64, 64), dtype=np.uint8)
    print(f"{'plain Keras' if args.plain else 'xgan'}: before any model {resident_mb():.0f} MB", flush=True)
    print("model  resident MB  after malloc_trim", flush=True)
    for k in range(args.models):
        images, labels = rng.integers(0, 256, (args.images, 64, 64), dtype=np.uint8), rng.integers(0, 2, args.images)
        if args.plain:
            layers = [keras.Input((64, 64, 1)), keras.layers.Rescaling(1 / 255)]
            for filters in (16, 32, 64):
                layers += [keras.layers.Conv2D(filters, 3, padding="same"), keras.layers.BatchNormalization(),
                           keras.layers.ReLU(), keras.layers.MaxPooling2D()]
            model = keras.Sequential(layers + [keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                                               keras.layers.Dense(1, activation="sigmoid")])
            model.compile("adam", "binary_crossentropy", metrics=["auc"])
            model.fit(images[..., None].astype("float32"), labels, batch_size=40, epochs=1, verbose=0,
                      validation_data=(validation[0][..., None].astype("float32"), validation[1]))
            model.predict(test[..., None].astype("float32"), verbose=0)
            del model
        else:
            from xgan.classifier.config import ClassifierConfig
            from xgan.classifier.train import predict_probabilities, train_classifier

            result = train_classifier(ClassifierConfig(image_size=64, epochs=1, seed=k), images, labels, validation)
            predict_probabilities(result.model, test, tta=True)
            del result
        del images, labels
        keras.backend.clear_session()
        gc.collect()
        before = resident_mb()
        trim(0)
        print(f"{k + 1:5d}  {before:11.0f}  {resident_mb():16.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
