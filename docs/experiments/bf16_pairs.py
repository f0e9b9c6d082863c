#!/usr/bin/env python3
"""bf16 against fp32 training on bccd, pair by pair (same detector, loss and seed), from the run records:
bf16 runs in results/bf16-bccd, fp32 runs in results/detectors-bccd (or a fp32 rerun kept beside its bf16 pair
in results/bf16-bccd, which is then preferred). Prints the table of docs/benchmarks.md and the paired statistics.
Run from the repository root: python3 docs/experiments/bf16_pairs.py"""
import glob, math, os, re, statistics as st, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_results_doc import R, final, t_two_sided_p


def metrics(run):
    f = final(run)
    return (f['stats'][0], f['voc_map50']) if f else None


pairs = []
for bf16 in sorted(glob.glob(os.path.join(R, 'bf16-bccd', '*-bf16-seed*'))):
    m = re.match(r'(.+)-bf16-seed(\d+)$', os.path.basename(bf16))
    name, seed = m.group(1), int(m.group(2))
    rerun = os.path.join(R, 'bf16-bccd', f'{name}-fp32-seed{seed}')
    fp32 = rerun if os.path.isdir(rerun) else os.path.join(R, 'detectors-bccd', f'{name}-seed{seed}')
    a, b = metrics(fp32), metrics(bf16)
    if a and b:
        pairs.append((name, seed, a, b))

print('| run | fp32 AP / VOC mAP50 | bf16 AP / VOC mAP50 | bf16 − fp32 AP |')
print('|---|---|---|---:|')
for name, seed, a, b in pairs:
    print(f'| {name}, seed {seed} | {a[0]:.3f} / {a[1]:.3f} | {b[0]:.3f} / {b[1]:.3f} | {b[0] - a[0]:+.3f} |')
d = [b[0] - a[0] for _, _, a, b in pairs]
if len(d) > 1:
    t = st.mean(d) / (st.stdev(d) / math.sqrt(len(d)))
    print(f'\n{len(d)} pairs: bf16 − fp32 AP {st.mean(d):+.4f} ± {st.stdev(d):.4f} (mean ± std), '
          f'{sum(x < 0 for x in d)} below zero, paired t {t:.2f} (df {len(d) - 1}), p {t_two_sided_p(t, len(d) - 1):.3f}')
    voc = [b[1] - a[1] for _, _, a, b in pairs]
    print(f'VOC mAP50 differences {min(voc):+.4f} … {max(voc):+.4f}')
for name in sorted({p[0] for p in pairs}):
    a = [p[2][0] for p in pairs if p[0] == name]
    b = [p[3][0] for p in pairs if p[0] == name]
    if len(a) > 1:
        print(f'{name}: fp32 {st.mean(a):.4f} ± {st.stdev(a):.4f}, bf16 {st.mean(b):.4f} ± {st.stdev(b):.4f} ({len(a)} seeds)')
