#!/usr/bin/python3
"""
Samples rows of a features_reference.py CSV into a JSON fixture for tests/features/reference.test.ts:
the first and last rows, every Nth row, and the rows where each column first becomes defined.

  make_fixture.py REF.csv OUT.json --every N --spec SPEC --params JSON
"""
import csv, json, sys, argparse
ap = argparse.ArgumentParser()
ap.add_argument('ref'); ap.add_argument('out')
ap.add_argument('--every', type=int, default=1000)
ap.add_argument('--spec', required=True)
ap.add_argument('--params', required=True)
a = ap.parse_args()
rows = list(csv.reader(open(a.ref)))
header, body = rows[0], rows[1:]
pick = set(range(min(5, len(body)))) | set(range(max(0, len(body) - 5), len(body))) | set(range(0, len(body), a.every))
for c in range(3, len(header)):
    for i, r in enumerate(body):
        if r[c] != '':
            pick.update({i, min(i + 1, len(body) - 1)})
            break
out = {
    'generator': 'scripts/reference/features_reference.py (independent numpy implementation of spec/FEATURES.md v1)',
    'spec': a.spec,
    'params': json.loads(a.params),
    'columns': header,
    'totalRows': len(body),
    'rows': [[int(body[i][0]), body[i][1], int(body[i][2])] + [None if v == '' else float(v) for v in body[i][3:]] for i in sorted(pick)],
}
# ts_ns as a string: int64 does not fit a JSON number exactly.
for r in out['rows']: r[0] = str(r[0])
json.dump(out, open(a.out, 'w'), separators=(',', ':'))
print(a.out, len(out['rows']), 'rows')
