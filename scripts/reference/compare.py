#!/usr/bin/python3
"""Compares two feature CSVs column by column: NaN pattern must match exactly; values within rtol/atol."""
import sys, csv, math
a_path, b_path = sys.argv[1], sys.argv[2]
rtol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-9
ra = csv.reader(open(a_path)); rb = csv.reader(open(b_path))
ha = next(ra); hb = next(rb)
assert ha == hb, f'headers differ:\n{ha}\n{hb}'
stats = {c: [0, 0.0, None] for c in ha}   # mismatches, max rel err, first mismatch
n = 0
for la, lb in zip(ra, rb):
    n += 1
    for c, x, y in zip(ha, la, lb):
        if c == 'symbol':
            if x != y: stats[c][0] += 1
            continue
        if x == '' or y == '':
            if x != y:
                stats[c][0] += 1
                if stats[c][2] is None: stats[c][2] = (n - 1, x, y)
            continue
        fx, fy = float(x), float(y)
        if c == 'ts_ns' or c == 'row':
            if int(x) != int(y):
                stats[c][0] += 1
                if stats[c][2] is None: stats[c][2] = (n - 1, x, y)
            continue
        err = abs(fx - fy) / max(abs(fx), abs(fy), 1e-12)
        tol_ok = abs(fx - fy) <= rtol * max(abs(fx), abs(fy)) + 1e-12
        if err > stats[c][1]: stats[c][1] = err
        if not tol_ok:
            stats[c][0] += 1
            if stats[c][2] is None: stats[c][2] = (n - 1, x, y)
print(f'rows compared: {n}')
bad = 0
for c, (m, e, first) in stats.items():
    flag = 'OK ' if m == 0 else 'BAD'
    if m: bad += 1
    print(f'{flag} {c:18s} mismatches={m:7d} max_rel_err={e:.3g}' + (f' first={first}' if first else ''))
sys.exit(1 if bad else 0)
