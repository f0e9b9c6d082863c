#!/usr/bin/env bash
# Every run behind docs/results.md, one command per experiment. Each command keeps finished runs and
# resumes an interrupted one, so the whole set can be completed over several sittings.
# Run from the repository root with ../shared beside it.
set -euo pipefail
hpfdet() { dotnet run -c Release --project src/HpfDet.Cli -- "$@"; }

# bccd: focal loss vs HPF, 3 seeds each; QFL and VFL, one seed each.
hpfdet compare --config docs/experiments/bccd.yaml --losses fl:3,hpf:3,qfl:1,vfl:1 --out results/bccd

# vehicles: focal loss vs HPF, 3 seeds each.
hpfdet compare --config docs/experiments/vehicles.yaml --losses fl:3,hpf:3 --out results/vehicles

# Ablations on bccd, one seed each (the per-level, δ = 0.5 reference is results/bccd/hpf-seed0).
hpfdet compare --config docs/experiments/bccd.yaml --losses hpf:1 --set loss.scope=all_levels --out results/bccd-ablation/all-levels
hpfdet compare --config docs/experiments/bccd.yaml --losses hpf:1 --set loss.delta=0.25 --out results/bccd-ablation/delta-0.25
hpfdet compare --config docs/experiments/bccd.yaml --losses hpf:1 --set loss.delta=1.0 --out results/bccd-ablation/delta-1.0
