#!/usr/bin/python3
"""Markdown rows from probe_eval.py's eval / pool JSON: for each `A:B` pool, the pooled difference
with its CI, then one row per seed (resampling test images only).
  results_table.py runs/eval_test_pooled.json ours:ref ours:random ...   (all pools when none named)"""
import json, sys

d = json.load(open(sys.argv[1]))
fracs = sorted(d['fractions'], key=float)
pools = sys.argv[2:] or list(d['fractions'][fracs[0]]['pooled'])
f = lambda x: f'{x:+.3f}'
ci = lambda c: f'[{f(c[0])}, {f(c[1])}]'
print('| comparison | ' + ' | '.join(f'{float(x) * 100:g}%' for x in fracs) + ' |')
print('|---' * (len(fracs) + 1) + '|')
for p in pools:
    rows = [d['fractions'][x]['pooled'][p] for x in fracs]
    a, b = p.split(':')
    seeds = rows[0]['seeds']
    print(f'| **{a} minus {b}**, pooled over seeds {", ".join(seeds)} | ' + ' | '.join(f'{f(r["diff"])} {ci(r["diff_ci"])}' for r in rows) + ' |')
    if len(seeds) > 1:
        for i, s in enumerate(seeds):
            print(f'| &nbsp;&nbsp;{s} | ' + ' | '.join(f'{f(r["per_seed_diff"][i])} {ci(r["per_seed_ci"][i])}' for r in rows) + ' |')
