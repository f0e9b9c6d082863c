#!/usr/bin/env python3
"""Assembles docs/results.md from the run folders under results/ (tables only; the text around them is
in docs/experiments/results_template.md). Means, standard deviations, per-level shares, γ and training
times of a comparison come from the summary.json that `hpfdet compare` writes beside its report (one
implementation of them, in C#); this script only lays them out. Run from the repository root:
python3 docs/experiments/make_results_doc.py"""
import glob, gzip, json, os, re, shutil, statistics as st

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


def summary(ds):
    """The summary.json of a comparison folder: groups (mean, std, per class, positive shares, γ) and runs."""
    p = os.path.join(R, ds, 'summary.json')
    if not os.path.exists(p):
        raise SystemExit(f'{p} is missing: rerun its hpfdet compare command (docs/experiments/run-all.sh); finished runs are kept.')
    return json.load(open(p))


def ms(group, name, n=None):
    """mean ± std of a statistic of a summary group, as the reports write it ('–' where undefined)."""
    m, s = group['mean'][name], group['std'][name]
    if m is None:
        return '–'
    return f'{m:.3f}' if s is None or len(group['seeds']) < 2 else f'{m:.3f} ± {s:.3f}'


def minutes(d):
    """Training time of a run from its log: Σ over iterations of batch / logged images per second (no
    evaluation time). File times cannot be used: a checkout gives every file the same time."""
    batch = int(re.search(r'^\s+batch: (\d+)$', open(os.path.join(d, 'config.yaml')).read(), re.M).group(1))
    return sum(batch / j['images_per_second'] for j in iterations(d) if j.get('images_per_second')) / 60


def table(ds, order):
    sm = summary(ds)
    groups = {g['name']: g for g in sm['groups']}
    lines = ['| loss | runs | ' + ' | '.join(NAMES) + ' | VOC mAP50 |', '|---|---:|' + '---:|' * (len(NAMES) + 1)]
    for l in order:
        if l in groups:
            g = groups[l]
            lines.append(f"| {l} | {len(g['seeds'])} | " + ' | '.join(ms(g, n) for n in NAMES) + f" | {ms(g, 'VOC mAP50')} |")
    lines += ['', 'Every run (no selection):', '', '| loss | seed | ' + ' | '.join(NAMES) + ' | VOC mAP50 | training time |',
              '|---|---:|' + '---:|' * (len(NAMES) + 2)]
    for l in order:
        for r in (r for r in sm['runs'] if r['group'] == l):
            minutes = f"{r['training_minutes']:.1f} min" if r['training_minutes'] is not None else '–'
            lines.append(f"| {l} | {r['seed']} | " + ' | '.join(f'{v:.3f}' if v is not None and v >= 0 else '–' for v in r['stats'][:6])
                         + f" | {r['voc_map50']:.3f} | {minutes} |")
    return '\n'.join(lines), groups


def perclass(groups, order):
    present = [l for l in order if l in groups]
    cats = list(groups[present[0]]['per_class'])
    lines = ['| class | ' + ' | '.join(present) + ' |', '|---|' + '---:|' * len(present)]
    for c in cats:
        cells = []
        for l in present:
            v = groups[l]['per_class'][c]
            cells.append('–' if v['mean'] is None else f"{v['mean']:.3f}" if v['std'] is None else f"{v['mean']:.3f} ± {v['std']:.3f}")
        lines.append(f'| {c} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def iterations(d):
    # A finished comparison run keeps its log compressed (log.jsonl.gz); older runs have the plain log.
    plain = os.path.join(d, 'log.jsonl')
    stream = open(plain) if os.path.exists(plain) else gzip.open(plain + '.gz', 'rt')
    with stream:
        return [j for j in (json.loads(line) for line in stream) if j.get('type') == 'iter']


def level_table(groups, order):
    lines = ['| loss | share P3 | P4 | P5 | P6 | P7 | last-epoch γ P3 | P4 | P5 | P6 | P7 |', '|---|' + '---:|' * 10]
    for loss in order:
        g = groups.get(loss)
        if not g or 'positive_share' not in g or 'gamma_last_epoch' not in g:
            continue
        lines.append(f'| {loss} | ' + ' | '.join(f'{v:.3f}' for v in g['positive_share'][:5]) + ' | '
                     + ' | '.join(f'{v:.2f}' for v in g['gamma_last_epoch'][:5]) + ' |')
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
    """Detector x loss table, a row per run: final COCO numbers, VOC mAP50, positive share and last-epoch γ per level."""
    if not os.path.exists(os.path.join(R, folder, 'summary.json')):
        return '_No run has finished yet._'
    sm = summary(folder)
    groups = {g['name']: g for g in sm['groups']}
    found = {}
    for r in sm['runs']:
        model, loss = r['group'].split(' ')
        found.setdefault(model, {}).setdefault(loss, []).append(r)
    # Positive shares and γ are per detector and loss (mean over its seeds), so only its first row shows them.
    lines = ['| detector | loss | seed | AP | AP50 | AP75 | VOC mAP50 | positives P3 / P4 / P5 / P6 / P7 (mean over seeds) | last-epoch γ P3 / P4 / P5 / P6 / P7 (mean over seeds) | training time | threads |',
             '|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|']
    diffs = []
    for model in sorted(found):
        for loss in sorted(found[model], key=lambda l: (l != 'hpf', l), reverse=True):
            g = groups[f'{model} {loss}']
            share = ' / '.join(f'{v:.3f}' for v in g.get('positive_share', []))
            gam = ' / '.join(f'{v:.2f}' for v in g.get('gamma_last_epoch', [])) if loss == 'hpf' else '–'
            for i, r in enumerate(found[model][loss]):
                if i > 0:
                    share = gam = ''
                minutes = f"{r['training_minutes']:.1f} min" if r['training_minutes'] is not None else '–'
                threads = '/'.join(str(t) for t in r.get('torch_threads') or []) or '–'
                lines.append(f"| {model} | {loss} | {r['seed']} | " + ' | '.join(f'{v:.3f}' for v in r['stats'][:3])
                             + f" | {r['voc_map50']:.3f} | {share} | {gam} | {minutes} | {threads} |")
        native = next((l for l in found[model] if l != 'hpf'), None)
        if native and 'hpf' in found[model]:
            a, b = groups[f'{model} {native}'], groups[f'{model} hpf']
            text = f"{model}: HPF − {native} {b['mean']['AP'] - a['mean']['AP']:+.3f} AP"
            if len(a['seeds']) > 1 and len(b['seeds']) > 1:
                text += (f" ({native} {a['mean']['AP']:.3f} ± {a['std']['AP']:.3f}, HPF {b['mean']['AP']:.3f} ± {b['std']['AP']:.3f};"
                         f" {len(a['seeds'])} and {len(b['seeds'])} seeds)")
            diffs.append(text)
    return '\n'.join(lines) + ('\n\n' + '; '.join(diffs) + '.' if diffs else '')


def t_two_sided_p(t, df):
    """Two-sided p of Student's t with df degrees of freedom (Simpson integration of the density)."""
    import math
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    f = lambda x: c * (1 + x * x / df) ** (-(df + 1) / 2)
    t, n = abs(t), 2000
    h = t / n
    area = f(0) + f(t) + sum((4 if i % 2 else 2) * f(i * h) for i in range(1, n))
    return max(0.0, 1 - 2 * area * h / 3)


def seeds_of(folder, model):
    """Per loss of one model in a detector comparison: {loss: {seed: AP}}."""
    out = {}
    for r in summary(folder)['runs']:
        m, loss = r['group'].split(' ')
        if m == model:
            out.setdefault(loss, {})[r['seed']] = r['stats'][0]
    return out


def seed_study(folder, model, native, label='focal loss'):
    """(HPF − native mean AP, a sentence with every seed, mean ± std and the paired test) for one detector;
    `label` names the native loss in the sentence."""
    runs = seeds_of(folder, model)
    a, b = runs.get(native, {}), runs.get('hpf', {})
    if not a or not b:
        return 'not available', 'not available.'
    d = st.mean(b.values()) - st.mean(a.values())
    ms = lambda v: f"{st.mean(v):.3f} ± {st.stdev(v):.3f}" if len(v) > 1 else f"{st.mean(v):.3f}"
    text = (f"{label} {' / '.join(f'{a[k]:.3f}' for k in sorted(a))} ({ms(list(a.values()))}), "
            f"HPF {' / '.join(f'{b[k]:.3f}' for k in sorted(b))} ({ms(list(b.values()))}) for seeds {', '.join(str(k) for k in sorted(b))}")
    paired = [b[k] - a[k] for k in sorted(set(a) & set(b))]
    if len(paired) > 1:
        sd = st.stdev(paired)
        t = st.mean(paired) / (sd / len(paired) ** 0.5) if sd > 0 else float('inf')
        text += (f"; paired HPF − {label} {', '.join(f'{x:+.3f}' for x in paired)} (mean {st.mean(paired):+.3f}, "
                 f"paired t-test p {t_two_sided_p(t, len(paired) - 1):.2f}).")
    else:
        text += '.'
    return f"{d:+.3f} ({len(b)} seeds each)" if len(a) == len(b) > 1 else f"{d:+.3f}", text


def delta(groups):
    fl, hpf = groups.get('fl'), groups.get('hpf')
    if not fl or not hpf or len(fl['seeds']) < 2 or len(hpf['seeds']) < 2:
        return 'not available yet'
    a, b = fl['mean']['AP'], hpf['mean']['AP']
    return (f"{b - a:+.3f} AP (focal loss {a:.3f} ± {fl['std']['AP']:.3f}, "
            f"HPF {b:.3f} ± {hpf['std']['AP']:.3f}; {len(fl['seeds'])} and {len(hpf['seeds'])} seeds)")


def study_sections(folder, headings):
    """Sections of a study.md written by `hpfdet study` (its tables, computed there), by their headings."""
    p = os.path.join(R, folder, 'study.md')
    if not os.path.exists(p):
        return '_No study written yet._'
    text = open(p).read()
    out = []
    for h in headings:
        m = re.search(r'^## ' + re.escape(h) + r'\n(.*?)(?=^## |\Z)', text, re.S | re.M)
        if m:
            out.append(f'**{h}**\n' + m.group(1).rstrip())
    return '\n\n'.join(out)


def main():
    doc = open(os.path.join(ROOT, 'docs', 'experiments', 'results_template.md')).read()
    for key, ds, order in [('BCCD', 'bccd', ['fl', 'hpf', 'qfl', 'vfl']), ('VEH', 'vehicles', ['fl', 'hpf']),
                           ('VEH1', 'vehicles-lr0.01', ['fl', 'hpf'])]:
        t, groups = table(ds, order)
        doc = doc.replace('{{%s_TABLE}}' % key, t if groups else '_No run has finished yet._')
        doc = doc.replace('{{%s_PERCLASS}}' % key, perclass(groups, order) if groups else '')
        doc = doc.replace('{{%s_LEVELS}}' % key, level_table(groups, ['fl', 'hpf']) if groups else '')
        doc = doc.replace('{{%s_DELTA}}' % key, delta(groups))
    doc = doc.replace('{{ABLATION}}', ablation()).replace('{{SELECTION}}', selection()).replace('{{DETECTORS}}', detectors()).replace('{{DETECTORS_480}}', detectors('detectors-bccd-480')).replace('{{DETECTORS_640}}', detectors('detectors-bccd-640')).replace('{{DETECTORS_640_LR3}}', detectors('detectors-bccd-640-lr3'))
    for key, folder, model, native, label in [
            ('ATSS', 'detectors-bccd', 'atss-r18', 'fl', 'focal loss'),
            ('FSAF', 'detectors-bccd', 'fsaf-r18', 'fl', 'focal loss'),
            ('FOVEA', 'detectors-bccd', 'foveabox-r18', 'fl', 'focal loss'),
            ('FCOS', 'detectors-bccd', 'fcos-r18', 'fl', 'focal loss'),
            ('GFL', 'detectors-bccd', 'gfl-r18', 'qfl', 'QFL'),
            ('VFNET', 'detectors-bccd', 'vfnet-r18', 'vfl', 'VFL'),
            ('RETINA480', 'detectors-bccd-480', 'retinanet-r18', 'fl', 'focal loss'),
            ('YOLOF640', 'detectors-bccd-640', 'yolof-r18', 'fl', 'focal loss'),
            ('YOLOF640LR3', 'detectors-bccd-640-lr3', 'yolof-r18', 'fl', 'focal loss')]:
        d, seeds = seed_study(folder, model, native, label=label)
        doc = doc.replace('{{%s_DELTA}}' % key, d).replace('{{%s_SEEDS}}' % key, seeds)
    study_headings = ['Cells', 'Final AP per cell and loss (mean ± std over seeds, n − 1)',
                      'Paired difference per cell', 'Pairings across cells']
    doc = doc.replace('{{SCHEDULE}}', study_sections(os.path.join('schedule-vehicles', 'study'), study_headings))
    doc = doc.replace('{{SCHEDULE_BCCD}}', study_sections(os.path.join('schedule-bccd', 'study'), study_headings))
    open(os.path.join(ROOT, 'docs', 'results.md'), 'w').write(doc)
    os.makedirs(os.path.join(ROOT, 'docs', 'images', 'results'), exist_ok=True)
    for ds in ['vehicles', 'bccd']:
        for c in ['ap_by_epoch_panels.png', 'gamma_by_progress.png']:
            p = os.path.join(R, f'schedule-{ds}', 'study', c)
            if os.path.exists(p):
                shutil.copy(p, os.path.join(ROOT, 'docs', 'images', 'results', f'schedule_{ds}_{c}'))
    for ds, charts in [('bccd', ['gamma_trajectories.png', 'positive_proportions.png', 'ap_by_loss.png']),
                       ('vehicles', ['gamma_trajectories.png', 'positive_proportions.png', 'ap_by_loss.png']),
                       ('detectors-bccd', ['gamma_trajectories.png', 'positive_proportions.png'])]:
        for c in charts:
            p = os.path.join(R, ds, c)
            if os.path.exists(p):
                shutil.copy(p, os.path.join(ROOT, 'docs', 'images', 'results', f'{ds}_{c}'))


if __name__ == '__main__':
    main()
