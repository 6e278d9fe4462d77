#!/usr/bin/env bash
# The model study of docs/model-study.md: every preset on ../shared/data/idc-patches under one
# budget rule (64 px input, "stain" augmentation: flips, quarter turns, colour jitter and HED stain augmentation, 6 epochs: 2 head + 4 fine-tuning when
# ImageNet weights exist, else 6 from scratch; no test-time augmentation), patient-wise 5-fold
# cross-validation where the 2-core machine allows it, then every preset once on the BreakHis
# sample tree. Resumable: rerun it and finished folds are kept. About 70 minutes on 2 cores.
# Usage: scripts/study.sh [RUNS_DIR]        (default runs/study)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-runs/study}"
shared="${SHARED:-../shared}"
idc="$shared/data/idc-patches"
w="$shared/weights/keras-imagenet"
train=(.venv/bin/histo-appliance-train --data "$idc" --input-size 64 --augmentation stain
       --test-time-augmentation none --kfold 5 --resume)

# Pi-sized, ImageNet-initialised: all 5 folds.
"${train[@]}" --preset mobilenetv2 --weights "$w/mobilenet_v2_1.0_from_tf2_ptq_tflite.weights.h5" \
  --head-epochs 2 --epochs 4 --output "$runs/mobilenetv2" --name study-mobilenetv2
"${train[@]}" --preset mobilenetv3small \
  --weights "$w/mobilenet_v3_small_1.0_from_uint8_tflite_notop.weights.h5" \
  --head-epochs 2 --epochs 4 --output "$runs/mobilenetv3small" --name study-mobilenetv3small

# The seeds' image-wise split, once, to measure its leak (same recipe as mobilenetv2 above).
[ -f "$runs/image-wise/mobilenetv2/card.json" ] || .venv/bin/histo-appliance-train \
  --data "$idc" --input-size 64 --augmentation stain --test-time-augmentation none --image-wise --preset mobilenetv2 \
  --weights "$w/mobilenet_v2_1.0_from_tf2_ptq_tflite.weights.h5" --head-epochs 2 --epochs 4 \
  --output "$runs/image-wise/mobilenetv2" --name study-image-wise --resume

# From scratch (no ImageNet weights can be had offline): 6 epochs; ResNet-50 fold 1, WRN-28-2 folds 1-2.
"${train[@]}" --preset resnet50 --epochs 6 --folds 1 --output "$runs/resnet50" --name study-resnet50
"${train[@]}" --preset wrn-28-2 --epochs 6 --folds 1 2 --output "$runs/wrn-28-2" --name study-wrn-28-2

# Every preset once on the BreakHis sample tree (19 images, 16 patients): end to end, not a result.
tree="$runs/breakhis-tree"
.venv/bin/python -c "import sys; from appliance.trainer.loaders import arrange_breakhis_tree as a; \
print(a(sys.argv[1], sys.argv[2]))" "$shared/data/breakhis-samples" "$tree" >/dev/null
for preset in mobilenetv2 mobilenetv3small wrn-28-2 resnet50 resnet50-mse-rmsprop \
              resnet152v2-head multiscale; do
  [ -f "$runs/breakhis/$preset/card.json" ] && continue
  .venv/bin/histo-appliance-train --data "$tree/BreaKHis_v1" --layout breakhis --preset "$preset" \
    --input-size 64 --epochs 1 --head-epochs 0 --batch-size 8 --split 0.6 0.2 0.2 \
    --augmentation paper \
    --test-time-augmentation none --representative 8 --output "$runs/breakhis/$preset" \
    --name "breakhis-$preset"
done

# The two ImageNet-sized fusions from scratch: fold 1, 1 epoch, 10 images per patient (about a
# quarter of the data): they show the preset runs end to end on real data, not its accuracy.
"${train[@]}" --preset resnet152v2-head --epochs 1 --folds 1 --limit-per-patient 10 \
  --output "$runs/resnet152v2-head" --name study-resnet152v2-head
"${train[@]}" --preset multiscale --epochs 1 --folds 1 --limit-per-patient 10 \
  --output "$runs/multiscale" --name study-multiscale

.venv/bin/python -m appliance.trainer.study_doc "$runs" > "$runs/tables.md"
echo "study tables: $runs/tables.md"
