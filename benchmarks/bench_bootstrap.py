"""The report's paired bootstrap: xgan's counted draws against the plain way of scoring every draw's copied-out scores.

    python benchmarks/bench_bootstrap.py [--rounds 3] [--resamples 2000]

The default study's shapes (3 seeds, 524 test images, 829 validation images, 2,000 resamples, every model's
threshold re-chosen on the drawn validation images in every resample), one thread, scores drawn from Beta
distributions and rounded to float32 as a sigmoid's are:

- `compare`: one pair of arms in `compare_arms`, every metric of METRICS (`paired_bootstrap_metrics`);
- `shift suite`: one arm against the baseline over the shift suite's 48 corrupted copies, balanced accuracy
  (`paired_bootstrap_over_copies`).

Against `plain`: the same resamples (the same generator, the same draws) scored the way a user would write it, by
copying each draw's scores out (`scores[seeds, images]`) and sorting them, which is what xgan did before it counted
(`tests/test_classifier_metrics.py` keeps that form as the reference the counted one must equal). Printed: CPU
seconds per comparison (best of the rounds), the ratio, and whether the two give the same intervals to the bit.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread, as each of the report's bootstrap threads

import numpy as np  # noqa: E402  (after the thread count)

from xgan.classifier.metrics import METRICS, batched_metric, paired_bootstrap_metrics, paired_bootstrap_over_copies  # noqa: E402
from xgan.classifier.threshold import ThresholdRule, batched_thresholds  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_workers import machine  # noqa: E402  (the CPU, its flags and cores, as every benchmark here prints them)

SEEDS, TEST, VALIDATION, COPIES = 3, 524, 829, 48


def plain(y_true, arm, baseline, metrics, resamples, thresholds, validation, seed=0):
    """Every draw's scores copied out and scored, in chunks of about 2 million values, as `_paired_bootstrap` chunks."""
    rng = np.random.default_rng(seed)
    num_seeds, num_images = arm.shape[0], arm.shape[-1]
    chunk = max(1, 2_000_000 // (num_seeds * num_images * (arm.shape[1] if arm.ndim == 3 else 1)))
    differences = {m: [] for m in metrics}
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        images = rng.integers(0, num_images, (count, num_images))
        seeds = rng.integers(0, num_seeds, (count, num_seeds))
        stored = [t[seeds] for t in thresholds]
        draw = rng.integers(0, len(validation[0]), (count, len(validation[0])))
        chosen = []
        for side in (0, 1):
            picked = batched_thresholds(validation[0][draw][:, None, :], validation[side + 1][seeds[:, :, None], draw[:, None, :]])
            chosen.append(np.where(np.isfinite(picked), picked, stored[side]))
        for m in metrics:
            cuts = stored if m == "roc_auc" else chosen
            scored = []
            for scores, cut in zip((arm, baseline), cuts):
                if scores.ndim == 2:
                    scored.append(batched_metric(m, y_true[images][:, None, :], scores[seeds[:, :, None], images[:, None, :]], cut[..., None]))
                else:
                    drawn = scores[seeds[:, :, None, None], np.arange(scores.shape[1])[None, None, :, None], images[:, None, None, :]]
                    scored.append(batched_metric(m, y_true[images][:, None, None, :], drawn, cut[..., None, None]).mean(-1))
            differences[m].append((scored[0] - scored[1]).mean(1))
    tail = (1 - 0.95) / 2 * 100
    return {m: tuple(float(v) for v in np.percentile(np.concatenate(d)[np.isfinite(np.concatenate(d))], [tail, 100 - tail]))
            for m, d in differences.items()}


def cpu_seconds(function) -> tuple[float, object]:
    start = time.process_time()
    result = function()
    return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y_true, validation_true = rng.random(TEST) < 135 / 524, rng.random(VALIDATION) < 214 / 829

    def scores(labels, shape):
        return np.where(labels, rng.beta(5, 1.5, shape), rng.beta(1.5, 5, shape)).astype(np.float32).astype(np.float64)

    arm, baseline = scores(y_true, (SEEDS, TEST)), scores(y_true, (SEEDS, TEST))
    validation = (validation_true.astype(int), scores(validation_true, (SEEDS, VALIDATION)), scores(validation_true, (SEEDS, VALIDATION)))
    thresholds = [batched_thresholds(validation_true, v) for v in validation[1:]]
    copies = [scores(y_true, (SEEDS, COPIES, TEST)) for _ in range(2)]
    y_int = y_true.astype(int)
    cases = {
        "compare": (lambda: paired_bootstrap_metrics(y_int, arm, baseline, METRICS, num_resamples=args.resamples, threshold=thresholds[0],
                                                     baseline_threshold=thresholds[1], validation=validation, choose_thresholds=ThresholdRule()),
                    lambda: plain(y_int, arm, baseline, METRICS, args.resamples, thresholds, validation)),
        "shift suite": (lambda: {"balanced_accuracy": paired_bootstrap_over_copies(
                            y_int, *copies, "balanced_accuracy", num_resamples=args.resamples, threshold=thresholds[0],
                            baseline_threshold=thresholds[1], validation=validation, choose_thresholds=ThresholdRule())},
                        lambda: plain(y_int, *(np.ascontiguousarray(c) for c in copies), ("balanced_accuracy",), args.resamples,
                                      thresholds, validation)),
    }
    print(f"machine: {machine()}; one thread; {args.resamples} resamples, {SEEDS} seeds, {TEST} test and {VALIDATION} validation images; "
          f"best of {args.rounds} round(s), CPU seconds per comparison")
    for name, (xgan, reference) in cases.items():
        timed = {"xgan": [], "plain": []}
        for _ in range(args.rounds):
            for variant, function in (("plain", reference), ("xgan", xgan)):
                seconds, result = cpu_seconds(function)
                timed[variant].append(seconds)
                if variant == "plain":
                    expected = result
                else:
                    same = all((result[m]["low"], result[m]["high"]) == expected[m] for m in expected)
        print(f"  {name:12s} plain {min(timed['plain']):5.2f} s  xgan {min(timed['xgan']):5.2f} s  "
              f"xgan / plain {min(timed['xgan']) / min(timed['plain']):.2f}  same intervals to the bit: {same}")


if __name__ == "__main__":
    main()
