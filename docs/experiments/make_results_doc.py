#!/usr/bin/env python3
"""Assembles docs/results.md from the run folders under results/ (tables only; the text around them is
in docs/experiments/results_template.md). Run from the repository root: python3 docs/experiments/make_results_doc.py"""
import glob, json, os, re, shutil, statistics as st

ROOT = os.getcwd()
R = os.path.join(ROOT, 'results')
NAMES = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl']


def final(run):
    p = os.path.join(run, 'eval', 'final.json')
    return json.load(open(p)) if os.path.exists(p) else None


def runs_of(ds):
    out = {}
    for d in sorted(glob.glob(os.path.join(R, ds, '*-seed*'))):
        m = re.match(r'(\w+)-seed(\d+)$', os.path.basename(d))
        f = final(d)
        if m and f:
            out.setdefault(m.group(1), []).append((int(m.group(2)), f, d))
    return out


def fmt(vals):
    vals = [v for v in vals if v is not None and v >= 0]
    if not vals:
        return '–'
    if len(vals) == 1:
        return f'{vals[0]:.3f}'
    return f'{st.mean(vals):.3f} ± {st.stdev(vals):.3f}'


def minutes(d):
    """Training time of a run from its log: Σ over iterations of batch / logged images per second (no
    evaluation time). File times cannot be used: a checkout gives every file the same time."""
    batch = int(re.search(r'^\s+batch: (\d+)$', open(os.path.join(d, 'config.yaml')).read(), re.M).group(1))
    return sum(batch / j['images_per_second'] for j in iterations(d) if j.get('images_per_second')) / 60


def table(ds, order):
    rs = runs_of(ds)
    lines = ['| loss | runs | ' + ' | '.join(NAMES) + ' | VOC mAP50 |', '|---|---:|' + '---:|' * (len(NAMES) + 1)]
    for l in order:
        if l not in rs:
            continue
        runs = rs[l]
        cells = [fmt([f['stats'][i] for _, f, _ in runs]) for i in range(6)]
        lines.append(f'| {l} | {len(runs)} | ' + ' | '.join(cells) + f" | {fmt([f.get('voc_map50', -1) for _, f, _ in runs])} |")
    lines += ['', 'Every run (no selection):', '', '| loss | seed | ' + ' | '.join(NAMES) + ' | VOC mAP50 | training time |',
              '|---|---:|' + '---:|' * (len(NAMES) + 2)]
    for l in order:
        for seed, f, d in rs.get(l, []):
            lines.append(f'| {l} | {seed} | ' + ' | '.join(f'{v:.3f}' if v >= 0 else '–' for v in f['stats'][:6])
                         + f" | {f.get('voc_map50', -1):.3f} | {minutes(d):.1f} min |")
    return '\n'.join(lines), rs


def perclass(rs, order):
    first = next(iter(rs.values()))[0][1]
    cats = [c['name'] for c in first['per_category']]
    present = [l for l in order if l in rs]
    lines = ['| class | ' + ' | '.join(present) + ' |', '|---|' + '---:|' * len(present)]
    for ci, c in enumerate(cats):
        lines.append(f'| {c} | ' + ' | '.join(fmt([f['per_category'][ci]['stats'][0] for _, f, _ in rs[l]]) for l in present) + ' |')
    return '\n'.join(lines)


def iterations(d):
    return [j for j in (json.loads(line) for line in open(os.path.join(d, 'log.jsonl'))) if j.get('type') == 'iter']


def level_table(ds, order):
    lines = ['| loss | share P3 | P4 | P5 | P6 | P7 | last-epoch γ P3 | P4 | P5 | P6 | P7 |', '|---|' + '---:|' * 10]
    for loss, runs in sorted(runs_of(ds).items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
        if loss not in order:
            continue
        shares, gammas = [], []
        for _, _, d in runs:
            recs = iterations(d)
            tot = [sum(j['positives'][l] for j in recs) for l in range(5)]
            shares.append([t / sum(tot) for t in tot])
            last = max(j['epoch'] for j in recs)
            gammas.append([st.mean(j['gamma'][l] for j in recs if j['epoch'] == last) for l in range(5)])
        sh = [st.mean(s[l] for s in shares) for l in range(5)]
        g = [st.mean(x[l] for x in gammas) for l in range(5)]
        lines.append(f'| {loss} | ' + ' | '.join(f'{v:.3f}' for v in sh) + ' | ' + ' | '.join(f'{v:.2f}' for v in g) + ' |')
    return '\n'.join(lines)


def ablation():
    rows = []
    ref = [(f, d) for s, f, d in runs_of('bccd').get('hpf', []) if s == 0]
    if ref:
        rows.append(('per level, δ = 0.5 (reference: bccd hpf seed 0)', ref[0][0], ref[0][1]))
    for name, label in [('all-levels', 'all levels (progressive focus only), δ = 0.5'), ('delta-0.25', 'per level, δ = 0.25'),
                        ('delta-1.0', 'per level, δ = 1.0')]:
        d = os.path.join(R, 'bccd-ablation', name, 'hpf-seed0')
        rows.append((label, final(d), d))
    lines = ['| HPF variant (bccd, seed 0) | AP | AP50 | AP75 | APs | APm | APl | last-epoch γ P3 | P4 |', '|---|' + '---:|' * 8]
    for label, f, d in rows:
        if f is None:
            lines.append(f'| {label} | not run yet | | | | | | | |')
            continue
        recs = iterations(d)
        last = max(j['epoch'] for j in recs)
        g = [st.mean(j['gamma'][l] for j in recs if j['epoch'] == last) for l in range(2)]
        lines.append(f'| {label} | ' + ' | '.join(f'{v:.3f}' for v in f['stats'][:6]) + f' | {g[0]:.2f} | {g[1]:.2f} |')
    return '\n'.join(lines)


def selection():
    """Schedule selection for vehicles: focal loss, seed 0, evaluated on the valid split."""
    lines = ['| run | scale | lr | epochs | valid AP, epoch 4 | epoch 8 | epoch 12 | final AP | AP50 | AP75 | training time |', '|---|' + '---:|' * 10]
    for d in sorted(glob.glob(os.path.join(R, 'vehicles-selection', '*'))):
        f = final(d)
        if not f:
            continue
        cfg = open(os.path.join(d, 'config.yaml')).read()
        get = lambda k: re.search(rf'^\s+{k}: (.+)$', cfg, re.M).group(1).strip()
        ep = {int(m.group(1)): json.load(open(p))['stats'][0]
              for p in glob.glob(os.path.join(d, 'eval', 'epoch_*.json')) for m in [re.search(r'epoch_(\d+)', p)]}
        cells = [f'{ep[e]:.3f}' if e in ep else '–' for e in (4, 8, 12)]
        lines.append(f'| {os.path.basename(d)} | {get("scale")} | {get("lr")} | {get("epochs")} | ' + ' | '.join(cells) + ' | '
                     + ' | '.join(f'{v:.3f}' for v in f['stats'][:3]) + f' | {minutes(d):.1f} min |')
    return '\n'.join(lines)


def detectors(folder='detectors-bccd'):
    """Detector x loss table (one seed): final COCO numbers, VOC mAP50, positive share and last-epoch γ per level."""
    found = {}
    for d in sorted(glob.glob(os.path.join(R, folder, '*-seed*'))):
        m = re.match(r'(.+)-(\w+)-seed(\d+)$', os.path.basename(d))
        f = final(d)
        if m and f and os.path.exists(os.path.join(d, 'completed')):
            found.setdefault(m.group(1), {}).setdefault(m.group(2), []).append((int(m.group(3)), f, d))
    if not found:
        return '_No run has finished yet._'
    lines = ['| detector | loss | seed | AP | AP50 | AP75 | VOC mAP50 | positives P3 / P4 / P5 / P6 / P7 | last-epoch γ P3 / P4 / P5 / P6 / P7 | training time |',
             '|---|---|---:|---:|---:|---:|---:|---|---|---:|']
    diffs = []
    for model in sorted(found):
        for loss in sorted(found[model], key=lambda l: (l != 'hpf', l), reverse=True):
            for seed, f, d in found[model][loss]:
                recs = iterations(d)
                levels = len(recs[0]['positives'])
                tot = [sum(j['positives'][l] or 0 for j in recs) for l in range(levels)]
                share = ' / '.join(f'{t / max(1, sum(tot)):.3f}' for t in tot)
                last = max(j['epoch'] for j in recs)
                g = ' / '.join(f"{st.mean(j['gamma'][l] for j in recs if j['epoch'] == last):.2f}" for l in range(levels)) if loss == 'hpf' else '–'
                lines.append(f'| {model} | {loss} | {seed} | ' + ' | '.join(f'{v:.3f}' for v in f['stats'][:3])
                             + f" | {f.get('voc_map50', -1):.3f} | {share} | {g} | {minutes(d):.1f} min |")
        runs = found[model]
        native = next((l for l in runs if l != 'hpf'), None)
        if native and 'hpf' in runs:
            diffs.append(f"{model}: HPF − {native} {st.mean(f['stats'][0] for _, f, _ in runs['hpf']) - st.mean(f['stats'][0] for _, f, _ in runs[native]):+.3f} AP")
    return '\n'.join(lines) + ('\n\n' + '; '.join(diffs) + '.' if diffs else '')


def delta(rs):
    if 'fl' not in rs or 'hpf' not in rs or len(rs['fl']) < 2 or len(rs['hpf']) < 2:
        return 'not available yet'
    a = [f['stats'][0] for _, f, _ in rs['fl']]
    b = [f['stats'][0] for _, f, _ in rs['hpf']]
    return (f'{st.mean(b) - st.mean(a):+.3f} AP (focal loss {st.mean(a):.3f} ± {st.stdev(a):.3f}, '
            f'HPF {st.mean(b):.3f} ± {st.stdev(b):.3f}; {len(a)} and {len(b)} seeds)')


def main():
    doc = open(os.path.join(ROOT, 'docs', 'experiments', 'results_template.md')).read()
    for key, ds, order in [('BCCD', 'bccd', ['fl', 'hpf', 'qfl', 'vfl']), ('VEH', 'vehicles', ['fl', 'hpf']),
                           ('VEH1', 'vehicles-lr0.01', ['fl', 'hpf'])]:
        t, rs = table(ds, order)
        doc = doc.replace('{{%s_TABLE}}' % key, t if rs else '_No run has finished yet._')
        doc = doc.replace('{{%s_PERCLASS}}' % key, perclass(rs, order) if rs else '')
        doc = doc.replace('{{%s_LEVELS}}' % key, level_table(ds, ['fl', 'hpf']) if rs else '')
        doc = doc.replace('{{%s_DELTA}}' % key, delta(rs))
    doc = doc.replace('{{ABLATION}}', ablation()).replace('{{SELECTION}}', selection()).replace('{{DETECTORS}}', detectors())
    open(os.path.join(ROOT, 'docs', 'results.md'), 'w').write(doc)
    os.makedirs(os.path.join(ROOT, 'docs', 'images', 'results'), exist_ok=True)
    for ds in ['bccd', 'vehicles']:
        for c in ['gamma_trajectories.png', 'positive_proportions.png', 'ap_by_loss.png']:
            p = os.path.join(R, ds, c)
            if os.path.exists(p):
                shutil.copy(p, os.path.join(ROOT, 'docs', 'images', 'results', f'{ds}_{c}'))


if __name__ == '__main__':
    main()
