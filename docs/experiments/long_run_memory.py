#!/usr/bin/env python3
"""Live tensors and resident memory over the longest kept training runs (the 2x schedules: 1314 iterations on
bccd, 1760 on vehicles, an evaluation after every epoch), read from their per-iteration logs. A leak shows as live
tensors that climb, or as a per-epoch low of resident memory that keeps rising to the end. Run from the
repository root: python3 docs/experiments/long_run_memory.py"""
import glob, gzip, json

print('| run | iterations | live tensors after iteration 100 (min–max) | lowest resident MiB in epoch 2 / middle epoch / last epoch |')
print('|---|---:|---|---|')
for f in sorted(glob.glob('results/schedule-*/2x/*/log.jsonl.gz')):
    it = [r for r in map(json.loads, gzip.open(f)) if r.get('type') == 'iter']
    live = [r['live_tensors'] for r in it[100:]]
    low = {}
    for r in it:
        low[r['epoch']] = min(low.get(r['epoch'], 1 << 62), r['resident_memory_bytes'] >> 20)
    last = max(low)
    lows = ' / '.join(str(low[e]) for e in (2, (last + 1) // 2, last))
    _, data, _, run, _ = f.split('/')
    print(f'| {data} {run} | {len(it)} | {min(live)}–{max(live)} | {lows} |')
