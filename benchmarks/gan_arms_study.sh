#!/usr/bin/env bash
# Issue 11's measurement: every GAN arm against baseline, oversampling, class weights and classic
# augmentation, on PneumoniaMNIST with the normal class cut to 120 training images (val and test
# untouched), 32 px, 3 seeds, paired bootstrap intervals.
#
#   PYTHONPATH=... bash benchmarks/gan_arms_study.sh samples/gan-arms-study
#
# Stages: the cut .npz; the study's DCGAN on the minority (normal) and a class-conditional DCGAN on
# both classes, each for the same number of steps (--kimg); images sampled from both; one
# `classify --compare` with every arm, the GAN variants fed by the conditional GAN's images; one
# with the study's minority DCGAN as its gan arm (same seeds, same baseline); a pixel quality report
# per synthetic folder; then thresholds chosen on validation for every saved model
# (benchmarks/validation_threshold.py).
set -euo pipefail
OUT=${1:-samples/gan-arms-study}
SOURCE=${SOURCE:-../shared/data/pneumoniamnist/pneumoniamnist_28_trainval.npz}
KIMG=${KIMG:-64}        # thousand real images per GAN: 2000 steps of 32
SEEDS=${SEEDS:-3}
EPOCHS=${EPOCHS:-12}     # the quick preset's classifier epochs and patience
PATIENCE=${PATIENCE:-4}
RATIO=${RATIO:-0.5}      # the study's default target
EQUAL_SHARE=${EQUAL_SHARE:-0.25}
CAP=${CAP:-0.5}
mkdir -p "$OUT"
DATA="$OUT/pneumoniamnist_normal120.npz"
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }

stamp cut
python - "$SOURCE" "$DATA" <<'PY'
import sys
import numpy as np
source, target = sys.argv[1:]
with np.load(source) as archive:
    arrays = {key: archive[key] for key in archive.files}
labels = arrays["train_labels"].reshape(-1)
normal = np.flatnonzero(labels == 0)  # MedMNIST: 0 normal, 1 pneumonia
keep = np.sort(np.concatenate([np.random.default_rng(0).choice(normal, 120, replace=False), np.flatnonzero(labels != 0)]))
arrays["train_images"], arrays["train_labels"] = arrays["train_images"][keep], arrays["train_labels"][keep]
arrays["class_names"] = np.array(["normal", "pneumonia"])
np.savez(target, **arrays)
print(f"train: {int((arrays['train_labels'] == 0).sum())} normal, {int((arrays['train_labels'] == 1).sum())} pneumonia; "
      f"val (xgan's test split) untouched: {len(arrays['val_labels'])}")
PY
xgan info "$DATA"

GAN="$OUT/gan"
stamp "minority DCGAN"
[ -d "$GAN/00000-gan-normal" ] || xgan train --data "$DATA" --size 32 --width 32 --kimg "$KIMG" --kid-every 0 --out "$GAN"
stamp "conditional DCGAN"
[ -d "$GAN/00001-gan-conditional" ] || xgan train --data "$DATA" --conditional --size 32 --width 32 --kimg "$KIMG" --kid-every 0 --out "$GAN"
stamp sample
xgan sample --run "$GAN/00000-gan-normal" --n 1600 --overwrite
xgan sample --run "$GAN/00001-gan-conditional" --class normal --n 1600 --overwrite
xgan sample --run "$GAN/00001-gan-conditional" --class pneumonia --n 1400 --overwrite

COMMON=(--data "$DATA" --size 32 --compare --seeds "$SEEDS" --epochs "$EPOCHS" --patience "$PATIENCE" --ratio "$RATIO")
stamp "classify: every arm, GAN variants from the conditional GAN"
xgan classify "${COMMON[@]}" --synthetic "$GAN/00001-gan-conditional/synthetic-normal" \
  --synthetic "$GAN/00001-gan-conditional/synthetic-pneumonia" --synthetic-cap "$CAP" --equal-share "$EQUAL_SHARE" \
  --out "$OUT/classify-conditional"
stamp "classify: the study's minority DCGAN"
xgan classify "${COMMON[@]}" --synthetic "$GAN/00000-gan-normal/synthetic" --arms gan --out "$OUT/classify-minority"
stamp quality
xgan quality --synthetic "$GAN/00000-gan-normal/synthetic" --features pixels --out "$OUT/quality-minority-normal" --overwrite
for CLASS in normal pneumonia; do
  xgan quality --synthetic "$GAN/00001-gan-conditional/synthetic-$CLASS" --class "$CLASS" --features pixels \
    --out "$OUT/quality-conditional-$CLASS" --overwrite
done
stamp "thresholds chosen on validation"
python benchmarks/validation_threshold.py "$OUT"/classify-*/0000*-classify-compare
stamp done
