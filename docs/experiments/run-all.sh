#!/usr/bin/env bash
# Every run behind docs/results.md, one command per experiment. Each command keeps finished runs and
# resumes an interrupted one, so the whole set can be completed over several sittings.
# Run from the repository root with ../shared beside it.
set -euo pipefail
hpfdet() { dotnet run -c Release --project src/HpfDet.Cli -- "$@"; }

# bccd: focal loss vs HPF, 3 seeds each; QFL and VFL, one seed each.
hpfdet compare --config docs/experiments/bccd.yaml --losses fl:3,hpf:3,qfl:1,vfl:1 --out results/bccd

# vehicles, schedule selection on the valid split (focal loss, seed 0); the chosen one is in vehicles.yaml.
sel() { hpfdet train --config docs/experiments/vehicles.yaml --loss fl --set data.val_split=valid --set train.warmup_iters=300 --set train.eval_every=4 "$@"; }
sel --set train.scale=320 --set train.max_size=320 --set train.lr=0.005 --set train.epochs=8 --set train.decay_epochs=[6,7] --out results/vehicles-selection/320px-lr0.005-8ep
sel --set train.scale=256 --set train.max_size=256 --set train.lr=0.01 --set train.epochs=12 --set train.decay_epochs=[9,11] --out results/vehicles-selection/256px-lr0.01-12ep
sel --set train.scale=256 --set train.max_size=256 --set train.lr=0.005 --set train.epochs=12 --set train.decay_epochs=[9,11] --out results/vehicles-selection/256px-lr0.005-12ep
sel --set train.scale=320 --set train.max_size=320 --set train.lr=0.0025 --set train.epochs=8 --set train.decay_epochs=[6,7] --out results/vehicles-selection/320px-lr0.0025-8ep

# vehicles: focal loss vs HPF, 5 seeds each, on the selected schedule, reported on test.
hpfdet compare --config docs/experiments/vehicles.yaml --losses fl:5,hpf:5 --out results/vehicles

# (The first, abandoned vehicles schedule: bccd's lr 0.01 and warm-up 100, 7 epochs.)
# hpfdet compare --config results/vehicles-lr0.01/config.yaml --losses fl:3,hpf:3 --out results/vehicles-lr0.01

# Ablations on bccd, one seed each (the per-level, δ = 0.5 reference is results/bccd/hpf-seed0).
hpfdet compare --config docs/experiments/bccd.yaml --losses hpf:1 --set loss.scope=all_levels --out results/bccd-ablation/all-levels
hpfdet compare --config docs/experiments/bccd.yaml --losses hpf:1 --set loss.delta=0.25 --out results/bccd-ablation/delta-0.25
hpfdet compare --config docs/experiments/bccd.yaml --losses hpf:1 --set loss.delta=1.0 --out results/bccd-ablation/delta-1.0

# Nine detectors on bccd: each with its native loss (native = qfl for GFL, vfl for VFNet, fl γ 1.5 / α 0.4
# for FoveaBox, fl otherwise) and with HPF, one seed (bccd.yaml's schedule, 320 px).
hpfdet compare --config docs/experiments/detectors-bccd.yaml \
  --models atss-r18,retinanet-r18,fcos-r18,gfl-r18,paa-r18,vfnet-r18,fsaf-r18,foveabox-r18,yolof-r18 \
  --losses native:1,hpf:1 --out results/detectors-bccd
# RetinaNet and YOLOF again at bccd's native 480 px (at 320 px both miss the sanity anchor: platelets are below their anchors).
hpfdet compare --config docs/experiments/detectors-bccd.yaml --scale 480 --set train.max_size=640 \
  --models retinanet-r18,yolof-r18 --losses native:1,hpf:1 --out results/detectors-bccd-480
# YOLOF at 640 px (long side 854; at 480 px it still misses the anchor), three seeds: the backbone at the
# full learning rate, and at a third of it (mmdetection's YOLOF recipe).
hpfdet compare --config docs/experiments/detectors-bccd.yaml --scale 640 --set train.max_size=854 \
  --models yolof-r18 --losses native:3,hpf:3 --out results/detectors-bccd-640
hpfdet compare --config docs/experiments/detectors-bccd.yaml --scale 640 --set train.max_size=854 \
  --set train.backbone_lr_mult=0.3333333333 --models yolof-r18 --losses native:3,hpf:3 --out results/detectors-bccd-640-lr3

# RetinaNet on bccd with anchors scaled to the input (320/800), focal loss, seed 0.
hpfdet train --config docs/experiments/detectors-bccd.yaml --set model.name=retinanet-r18 --loss fl --set model.anchor_scale=0.4 \
  --out results/detectors-bccd-retinanet-anchors/anchor-scale-0.4-fl-seed0

# Schedule study on vehicles: focal loss vs HPF at 1x, 1.5x and 2x the epochs, 3 seeds, AP after every epoch.
for s in 1x 1.5x 2x; do
  hpfdet compare --config docs/experiments/schedule-vehicles-$s.yaml --losses fl:3,hpf:3 --out results/schedule-vehicles/$s
done
