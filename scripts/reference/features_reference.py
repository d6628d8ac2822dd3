#!/usr/bin/python3
"""
An independent, deliberately plain implementation of spec/FEATURES.md v1 in numpy, used to
cross-check flowcast's TypeScript engine on the real data (scripts/reference/compare.py).

It shares no code or algorithm with src/features: books are dicts, windows are slices, VPIN uses
cumulative volume cut at multiples of V, bars are grouped with numpy. Run with Debian's python3
(numpy). Output: CSV in the same layout as `flowcast features`.

  features_reference.py lobster MSG.csv[.gz] OB.csv[.gz] OUT.csv [--vpin-bucket V] [--horizons 10,50,100]
  features_reference.py binance CAPTURE.jsonl.gz OUT.csv [--vpin-bucket V] [--horizons ...]
"""
import sys, gzip, json, math, argparse, datetime
import numpy as np

L = 10

def open_text(path):
    return gzip.open(path, 'rt') if path.endswith('.gz') else open(path)

# ---------------------------------------------------------------- sources -> rows + trades
def lobster(msg_path, ob_path):
    name = msg_path.split('/')[-1]
    sym, date = name.split('_')[0], name.split('_')[1]
    msg = np.loadtxt(open_text(msg_path), delimiter=',', dtype=np.float64)
    ob = np.loadtxt(open_text(ob_path), delimiter=',', dtype=np.float64)
    nlev = ob.shape[1] // 4
    # New York midnight of the date in UTC ns (EDT in June: UTC-4; computed via the zone rule for 2012).
    y, m, d = map(int, date.split('-'))
    # US DST 2012: 2012-03-11 .. 2012-11-04
    dst = datetime.date(2012, 3, 11) <= datetime.date(y, m, d) < datetime.date(2012, 11, 4) if y == 2012 else None
    off_h = 4 if dst else 5
    midnight_ns = int(datetime.datetime(y, m, d, tzinfo=datetime.timezone.utc).timestamp()) * 10**9 + off_h * 3600 * 10**9
    # exact ns of day from the text
    ts = []
    with open_text(msg_path) as f:
        for line in f:
            t = line.split(',', 1)[0]
            if '.' in t:
                a, b = t.split('.')
                b = (b + '000000000')[:10]
                ns = int(a) * 10**9 + int(b[:9]) + (1 if int(b[9]) >= 5 else 0)
            else:
                ns = int(t) * 10**9
            ts.append(midnight_ns + ns)
    ts = np.array(ts, dtype=np.int64)
    n = ob.shape[0]
    ask_px = ob[:, 0::4] / 10000.0; ask_sz = ob[:, 1::4].copy()
    bid_px = ob[:, 2::4] / 10000.0; bid_sz = ob[:, 3::4].copy()
    pad_a = ob[:, 0::4] >= 9999999999; pad_b = ob[:, 2::4] <= -9999999999
    ask_px[pad_a] = np.nan; ask_sz[pad_a] = 0; bid_px[pad_b] = np.nan; bid_sz[pad_b] = 0
    typ = msg[:, 1]; size = msg[:, 3]; price = msg[:, 4] / 10000.0; direction = msg[:, 5]
    ex = (typ == 4) | (typ == 5)
    idx = np.nonzero(ex)[0]
    trades = dict(row=idx, ts=ts[idx], price=price[idx], size=size[idx], sign=-direction[idx])
    return sym, ts, bid_px, bid_sz, ask_px, ask_sz, nlev, trades


def binance(path):
    """Rebuild with dicts, Binance sync with buffering; one row per applied diff."""
    bids, asks = {}, {}
    synced = False; last_u = None; lid = None
    buffered = []            # events before the snapshot, in order
    rows_ts, rows_b, rows_a = [], [], []
    trade_list = []          # (row index it belongs to, T ns, price, size, sign); row index = rows so far
    pending = []
    sym = None
    futures = None

    def top(book, rev, k):
        keys = sorted(book.keys(), reverse=rev)[:k]
        px = [float(p) for p in keys] + [math.nan] * (k - len(keys))
        sz = [book[p] for p in keys] + [0.0] * (k - len(keys))
        return px, sz

    def apply(d):
        for p, q in d['b']:
            if float(q) == 0: bids.pop(float(p), None)
            else: bids[float(p)] = float(q)
        for p, q in d['a']:
            if float(q) == 0: asks.pop(float(p), None)
            else: asks[float(p)] = float(q)

    def make_row(d):
        nonlocal pending
        rows_ts.append(d['E'] * 10**6)
        rows_b.append(top(bids, True, L)); rows_a.append(top(asks, False, L))
        for t in pending: trade_list.append((len(rows_ts) - 1,) + t)
        pending = []

    def on_diff(d):
        nonlocal synced, last_u
        if not synced:
            if futures:
                if d['u'] < lid: return
                if not (d['U'] <= lid <= d['u']): raise SystemExit('gap at sync')
            else:
                if d['u'] <= lid: return
                if not (d['U'] <= lid + 1 <= d['u']): raise SystemExit('gap at sync')
            synced = True
        else:
            if futures:
                if d['pu'] != last_u: raise SystemExit('gap')
            else:
                if d['U'] != last_u + 1: raise SystemExit('gap')
        apply(d); last_u = d['u']; make_row(d)

    def on_trade(d):
        pending.append((d['T'] * 10**6, float(d['p']), float(d['q']), -1.0 if d['m'] else 1.0))

    with open_text(path) as f:
        for line in f:
            j = json.loads(line.split(' ', 1)[1])
            d = j.get('data', j)
            if 'lastUpdateId' in d:
                lid = d['lastUpdateId']
                bids = {float(p): float(q) for p, q in d['bids'] if float(q) > 0}
                asks = {float(p): float(q) for p, q in d['asks'] if float(q) > 0}
                for kind, e in buffered:
                    if kind == 'd': on_diff(e)
                    else: on_trade(e)
                buffered = None
                continue
            e = d.get('e')
            if e == 'depthUpdate':
                sym = d['s']; futures = 'pu' in d
                if buffered is not None: buffered.append(('d', d))
                else: on_diff(d)
            elif e == 'trade':
                if buffered is not None: buffered.append(('t', d))
                else: on_trade(d)
    # trades after the last row are dropped
    ts = np.array(rows_ts, dtype=np.int64)
    bid_px = np.array([r[0] for r in rows_b]); bid_sz = np.array([r[1] for r in rows_b])
    ask_px = np.array([r[0] for r in rows_a]); ask_sz = np.array([r[1] for r in rows_a])
    tl = np.array(trade_list, dtype=np.float64).reshape(-1, 5)
    trades = dict(row=tl[:, 0].astype(np.int64), ts=tl[:, 1].astype(np.int64), price=tl[:, 2], size=tl[:, 3], sign=tl[:, 4])
    return sym, ts, bid_px, bid_sz, ask_px, ask_sz, 10**9, trades

# ---------------------------------------------------------------- features
def features(ts, bp, bq, ap, aq, nlev, trades, V, bar_ms=1000, W=300, horizons=(), alpha=0.00002, n_buckets=50):
    n = len(ts)
    out = {}
    mid = (ap[:, 0] + bp[:, 0]) / 2
    out['mid'] = mid
    out['spread'] = ap[:, 0] - bp[:, 0]
    with np.errstate(divide='ignore', invalid='ignore'):
        out['spread_bps'] = np.where(mid == 0, 0.0, 10000 * out['spread'] / mid)
        s1 = bq[:, 0] + aq[:, 0]
        out['wmid'] = np.where(s1 == 0, mid, (bp[:, 0] * aq[:, 0] + ap[:, 0] * bq[:, 0]) / np.where(s1 == 0, 1, s1))
        def imb(k):
            k = min(k, nlev)
            b = bq[:, :k].sum(1); a = aq[:, :k].sum(1)
            return np.where(b + a == 0, 0.0, (b - a) / np.where(b + a == 0, 1, b + a))
        out['imb_1'] = imb(1); out['imb_5'] = imb(5); out['imb_10'] = imb(10)
    Ld = min(L, nlev)
    out['depth_bid'] = bq[:, :Ld].sum(1); out['depth_ask'] = aq[:, :Ld].sum(1)
    def slope(px, sz):
        res = np.zeros(n)
        for i in range(n):
            present = ~np.isnan(px[i, :Ld])
            m = int(present.sum())
            if m < 2: res[i] = 0.0; continue
            x = np.abs(px[i, :Ld][present] - mid[i]); y = np.cumsum(sz[i, :Ld][present])
            if np.isnan(mid[i]): res[i] = math.nan; continue
            vx = np.var(x)
            res[i] = 0.0 if vx == 0 else np.mean((x - x.mean()) * (y - y.mean())) / vx
        return res
    out['slope_bid'] = slope(bp, bq); out['slope_ask'] = slope(ap, aq)
    for m in range(5):
        e = np.zeros(n)
        if m < nlev:
            b, pb = bp[1:, m], bp[:-1, m]; qb, pqb = bq[1:, m], bq[:-1, m]
            a, pa = ap[1:, m], ap[:-1, m]; qa, pqa = aq[1:, m], aq[:-1, m]
            bid_ok = ~np.isnan(b) & ~np.isnan(pb); ask_ok = ~np.isnan(a) & ~np.isnan(pa)
            eb = (b >= pb) * qb - (b <= pb) * pqb
            ea = (a >= pa) * pqa - (a <= pa) * qa
            e[1:] = np.where(bid_ok, eb, 0.0) + np.where(ask_ok, ea, 0.0)
        out[f'ofi_{m+1}'] = e
    c = np.concatenate([[0.0], np.cumsum(out['ofi_1'])])
    for h in (10, 25, 50):
        r = np.zeros(n)
        for i in range(n):
            r[i] = out['ofi_1'][max(0, i - h + 1): i + 1].sum()
        out[f'ofi_h{h}'] = r
    ret = np.full(n, math.nan)
    with np.errstate(divide='ignore', invalid='ignore'):
        ret[1:] = np.log(mid[1:] / mid[:-1])
    out['ret_1'] = ret
    rv = np.full(n, math.nan)
    for i in range(n):
        w = ret[max(0, i - 99): i + 1]
        w = w[~np.isnan(w)]
        if len(w): rv[i] = math.sqrt((w * w).sum())
    out['rv_h100'] = rv
    tv = np.zeros(n); tsv = np.zeros(n)
    np.add.at(tv, trades['row'], trades['size'])
    np.add.at(tsv, trades['row'], trades['sign'] * trades['size'])
    out['trade_vol'] = tv; out['trade_signed_vol'] = tsv
    tfi = np.zeros(n)
    for i in range(n):
        d = tv[max(0, i - 49): i + 1].sum()
        tfi[i] = 0.0 if d == 0 else tsv[max(0, i - 49): i + 1].sum() / d
    out['tfi_h50'] = tfi
    # VPIN: cut the cumulative volume at multiples of V.
    vp = np.full(n, math.nan)
    imbs = []           # |B-S| per completed bucket
    done_at_row = []    # row at which each bucket completed
    B = S = 0.0; filled = 0.0; k = 1
    cum = 0.0
    order = np.argsort(trades['row'], kind='stable')
    for t in order:
        sz = trades['size'][t]; sg = trades['sign'][t]; r = trades['row'][t]
        start = cum; cum += sz
        pos = start
        while pos < cum:
            boundary = k * V
            take = min(cum, boundary) - pos
            if sg > 0: B += take
            elif sg < 0: S += take
            pos += take
            if pos >= boundary:
                imbs.append(abs(B - S)); done_at_row.append(r); B = S = 0.0; k += 1
    done_at_row = np.array(done_at_row, dtype=np.int64); imbs = np.array(imbs)
    for i in range(n):
        c_ = int(np.searchsorted(done_at_row, i, side='right'))
        if c_ >= n_buckets: vp[i] = imbs[c_ - n_buckets: c_].sum() / (n_buckets * V)
    out['vpin'] = vp
    # Bars
    bar = bar_ms * 10**6
    k_first = ts[0] // bar
    k0 = k_first + 1
    kt = ts // bar
    kmax = int(kt[-1])
    nb = kmax - k0 + 1
    Sb = np.zeros(max(nb, 0)); Xb = np.zeros(max(nb, 0)); Vb = np.zeros(max(nb, 0))
    tb = trades['ts'] // bar
    sel = (tb >= k0) & (tb <= kmax)
    ix = (tb[sel] - k0).astype(np.int64)
    np.add.at(Sb, ix, (trades['sign'] * trades['size'])[sel])
    np.add.at(Xb, ix, (trades['sign'] * np.sqrt(trades['price'] * trades['size']))[sel])
    np.add.at(Vb, ix, (trades['price'] * trades['size'])[sel])
    # end mid of bars k0-1 .. kmax: mid of last row with ts < end
    ends = (np.arange(k0 - 1, kmax + 1, dtype=np.int64) + 1) * bar
    last = np.searchsorted(ts, ends, side='left') - 1
    endmid = mid[last]
    dmid = endmid[1:] - endmid[:-1]
    with np.errstate(divide='ignore', invalid='ignore'):
        dlog = np.log(endmid[1:] / endmid[:-1])
    ky = np.full(n, math.nan); hb = np.full(n, math.nan); am = np.full(n, math.nan)
    cache = {}
    for i in range(n):
        K = int(kt[i])           # bars < K are complete
        cnt = K - k0
        if cnt < W: continue
        if K not in cache:
            sl = slice(K - W - k0, K - k0)
            s_, d_, x_, l_, v_ = Sb[sl], dmid[sl], Xb[sl], dlog[sl], Vb[sl]
            vs = np.var(s_); vx = np.var(x_)
            kyv = math.nan if vs == 0 else np.mean((s_ - s_.mean()) * (d_ - d_.mean())) / vs
            hbv = math.nan if vx == 0 else np.mean((x_ - x_.mean()) * (l_ - l_.mean())) / vx
            pos = v_ > 0
            amv = np.mean(np.abs(l_[pos]) / v_[pos]) if pos.any() else math.nan
            cache[K] = (kyv, hbv, amv)
        ky[i], hb[i], am[i] = cache[K]
    out['kyle_lambda'] = ky; out['hasbrouck_lambda'] = hb; out['amihud'] = am
    for k in horizons:
        lab = np.full(n, math.nan)
        for i in range(n - k):
            mp = mid[i + 1: i + k + 1].mean()
            l = (mp - mid[i]) / mid[i]
            lab[i] = 1.0 if l > alpha else (-1.0 if l < -alpha else (0.0 if not math.isnan(l) else math.nan))
        out[f'label_{k}'] = lab
    return out

COLS = ['mid', 'spread', 'spread_bps', 'wmid', 'imb_1', 'imb_5', 'imb_10', 'depth_bid', 'depth_ask', 'slope_bid', 'slope_ask',
        'ofi_1', 'ofi_2', 'ofi_3', 'ofi_4', 'ofi_5', 'ofi_h10', 'ofi_h25', 'ofi_h50', 'ret_1', 'rv_h100', 'trade_vol',
        'trade_signed_vol', 'tfi_h50', 'vpin', 'kyle_lambda', 'hasbrouck_lambda', 'amihud']

def main():
    ap_ = argparse.ArgumentParser()
    ap_.add_argument('kind'); ap_.add_argument('files', nargs='+')
    ap_.add_argument('--vpin-bucket', type=float, required=True)
    ap_.add_argument('--horizons', default='')
    a = ap_.parse_args()
    out_path = a.files[-1]
    if a.kind == 'lobster': sym, ts, bp, bq, ap, aq, nlev, tr = lobster(a.files[0], a.files[1])
    else: sym, ts, bp, bq, ap, aq, nlev, tr = binance(a.files[0])
    hz = [int(x) for x in a.horizons.split(',') if x]
    f = features(ts, bp, bq, ap, aq, nlev, tr, a.vpin_bucket, horizons=hz)
    cols = COLS + [f'label_{k}' for k in hz]
    with open(out_path, 'w') as o:
        o.write('ts_ns,symbol,row,' + ','.join(cols) + '\n')
        for i in range(len(ts)):
            vals = [f[c][i] for c in cols]
            o.write(f'{int(ts[i])},{sym},{i},' + ','.join('' if math.isnan(v) else repr(float(v)) for v in vals) + '\n')

if __name__ == '__main__':
    main()
