/*
 * flowcast dashboard: one WebSocket to /feed (msgpack, decoded by the vendored msgpackr), the
 * selected symbol's book, features and predictions, and every symbol's alerts. Drawing runs at
 * most 10 times a second, on the data's own clock (a replay at any speed looks the same).
 * GET /v1/models says which symbols each model serves (the model list follows the symbol), and
 * GET /v1/topics how far each symbol's VPIN buckets have filled (VPIN is undefined until then).
 * The symbol and model: the user's pick (URL hash, then ?symbol=&model=, then the last pick kept
 * in localStorage), else the first symbol in sorted order and the first model serving it; never
 * the most active one, which would change from one load to the next.
 * window.__flowcast exposes the state (tests read it).
 */
'use strict';
(() => {
  const WINDOW_MS = 60_000;
  const MAX_POINTS = 6000;
  const state = {
    connected: false, hello: null, sym: '', model: '', symbols: [], models: [], allModels: [], cols: {},
    books: [], feats: [], preds: [], alerts: [], counts: {}, dropped: 0, gaps: 0, lastSeq: {},
    frames: 0, draws: 0, heatCells: 0, errors: [],
    /** Model topic -> symbol patterns it serves; null until /v1/models answers, 'all' if it cannot. */
    served: null,
    /** Symbol -> { buckets, window, bucketVolume } from /v1/topics. */
    vpin: {},
  };
  window.__flowcast = state;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  let ws = null;
  let backoff = 250;
  let reqId = 1;

  // ---- the user's pick: URL hash, then query, then the last one kept ----
  const STORE = 'flowcast.dashboard';
  const hash = new URLSearchParams(location.hash.slice(1));
  let stored = {};
  try { stored = JSON.parse(localStorage.getItem(STORE) || '{}') || {}; } catch { stored = {}; }
  const picked = (k) => (hash.has(k) ? hash.get(k) : params.has(k) ? params.get(k) : typeof stored[k] === 'string' ? stored[k] : undefined);
  /** symbol: undefined until picked; model: undefined (the default), '' (none picked) or a model. */
  const choice = { symbol: picked('symbol') || undefined, model: picked('model') };

  function remember() {
    const h = new URLSearchParams();
    if (choice.symbol) h.set('symbol', choice.symbol);
    if (choice.model !== undefined) h.set('model', choice.model);
    history.replaceState(null, '', `${location.pathname}${location.search}#${h}`);
    try { localStorage.setItem(STORE, JSON.stringify(choice)); } catch { /* private mode: the hash still holds it */ }
  }

  // ---- HTTP: which symbols each model serves, VPIN warm-up ----
  function api(path) {
    const key = params.get('key');
    return fetch(path, key ? { headers: { authorization: `Bearer ${key}` } } : {})
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${path}: HTTP ${r.status}`))));
  }

  const patternRe = (p) => new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&')).join('.*')}$`);
  let modelsAsked = null;
  function loadModels() {
    const want = state.allModels.join('\n');
    if (want === modelsAsked) return;
    modelsAsked = want;
    api('/v1/models').then((r) => {
      const served = {};
      for (const m of r.models || []) served[m.topic || m.name] = (m.symbols || ['*']).map(patternRe);
      state.served = served;
    }, (e) => {
      // Without the list (a key that may not read it), every model is offered, as before.
      state.served = 'all';
      state.errors.push({ code: 'models', message: String(e) });
    }).then(() => onDirectory(state.symbols, state.allModels));
  }

  function modelsFor(sym) {
    if (state.served === null) return [];
    if (state.served === 'all') return state.allModels;
    return state.allModels.filter((m) => (state.served[m] || []).some((re) => re.test(sym)));
  }

  let vpinAsked = false;
  function loadVpin() {
    if (vpinAsked) return;
    vpinAsked = true;
    api('/v1/topics').then((r) => { state.vpin = r.vpin || {}; }, () => {}).then(() => { vpinAsked = false; renderVpinNote(); });
  }

  // ---- colours: a 256-step Turbo map (Google's polynomial fit) ----
  const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));
  const TURBO = Array.from({ length: 256 }, (_, i) => {
    const x = i / 255;
    const r = 34.61 + x * (1172.33 - x * (10793.56 - x * (33300.12 - x * (38394.49 - x * 14825.05))));
    const g = 23.31 + x * (557.33 + x * (1225.33 - x * (3574.96 - x * (1073.77 + x * 707.56))));
    const b = 27.2 + x * (3211.1 - x * (15327.97 - x * (27814 - x * (22569.18 - x * 6838.66))));
    return `rgb(${clamp(r)},${clamp(g)},${clamp(b)})`;
  });

  // ---- feed ----
  function send(msg) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ ...msg, id: reqId++ }));
  }

  function topicsFor(sym, model) {
    const t = [`book.${sym}`, `features.${sym}`];
    if (model) t.push(`pred.${model}.${sym}`);
    return t;
  }

  function select(sym, model) {
    if (state.sym) send({ op: 'unsubscribe', topics: topicsFor(state.sym, state.model) });
    state.sym = sym;
    state.model = model;
    state.books = [];
    state.feats = [];
    state.preds = [];
    if (sym) send({ op: 'subscribe', topics: topicsFor(sym, model) });
    renderPred();
    renderVpinNote();
    if (sym) loadVpin();
  }

  function fillSelect(el, values, current, withNone) {
    const want = (withNone ? [''] : []).concat(values);
    const have = Array.from(el.options).map((o) => o.value);
    if (want.join('\n') !== have.join('\n')) {
      el.innerHTML = '';
      for (const v of want) {
        const o = document.createElement('option');
        o.value = v;
        o.textContent = v || '(none)';
        el.appendChild(o);
      }
    }
    el.value = current;
  }

  function onDirectory(symbols, models) {
    state.symbols = symbols.slice().sort();
    state.allModels = models.slice().sort();
    loadModels();
    // Until the models are known, none is chosen: a model chosen now might not serve the symbol.
    if (state.served === null && state.allModels.length) return;
    const sym = choice.symbol && state.symbols.includes(choice.symbol) ? choice.symbol : state.symbols[0] || '';
    state.models = modelsFor(sym);
    const model = choice.model !== undefined && (choice.model === '' || state.models.includes(choice.model)) ? choice.model : state.models[0] || '';
    fillSelect($('symbol'), state.symbols, sym, false);
    fillSelect($('model'), state.models, model, true);
    if (sym !== state.sym || model !== state.model) select(sym, model);
  }

  function trim(arr, tEnd) {
    let i = 0;
    while (i < arr.length && (arr[i].ts < tEnd - WINDOW_MS * 1.05 || arr.length - i > MAX_POINTS)) i++;
    if (i > 0) arr.splice(0, i);
  }

  function handle(f) {
    state.frames++;
    state.counts[f.t] = (state.counts[f.t] || 0) + 1;
    if (f.topic && typeof f.seq === 'number') {
      const last = state.lastSeq[f.topic];
      if (last !== undefined && f.seq > last + 1) state.gaps += f.seq - last - 1;
      state.lastSeq[f.topic] = f.seq;
    }
    switch (f.t) {
      case 'hello':
        state.hello = f;
        state.cols = Object.fromEntries(f.featureColumns.map((c, i) => [c, i]));
        send({ op: 'subscribe', topics: ['alerts.*'] });
        state.sym = '';
        onDirectory(f.symbols, f.models);
        break;
      case 'topics':
        onDirectory(f.symbols, f.models);
        break;
      case 'book':
        if (f.sym !== state.sym) break;
        state.books.push({ ts: f.ts, bids: f.bids, asks: f.asks });
        trim(state.books, f.ts);
        break;
      case 'features': {
        if (f.sym !== state.sym) break;
        const v = f.v, c = state.cols;
        const num = (k) => (v[c[k]] === null || v[c[k]] === undefined ? NaN : v[c[k]]);
        state.feats.push({ ts: f.ts, mid: num('mid'), wmid: num('wmid'), spread: num('spread'), ofi: num('ofi_1'), ofi50: num('ofi_h50'), vpin: num('vpin') });
        trim(state.feats, f.ts);
        break;
      }
      case 'pred':
        if (f.sym !== state.sym || f.model !== state.model) break;
        state.preds.push({ ts: f.ts, probs: f.probs, classes: f.classes, latencyUs: f.latencyUs });
        trim(state.preds, f.ts);
        break;
      case 'alert': {
        state.alerts.unshift(f);
        if (state.alerts.length > 200) state.alerts.length = 200;
        // Repeats of one symbol's kind become one line with a count: a noisy symbol must not push
        // every other symbol's alerts out of the list. Re-inserted, so the map runs oldest first.
        const k = `${f.sym}\n${f.kind}`;
        const g = alertGroups.get(k) || { count: 0, firstTs: f.ts, last: f };
        alertGroups.delete(k);
        g.count++;
        g.last = f;
        alertGroups.set(k, g);
        if (alertGroups.size > 200) alertGroups.delete(alertGroups.keys().next().value);
        renderAlerts();
        break;
      }
      case 'dropped':
        state.dropped += f.total;
        break;
      case 'error':
        state.errors.push(f);
        break;
      default:
        break;
    }
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const q = new URLSearchParams();
    if (params.get('key')) q.set('key', params.get('key'));
    ws = new WebSocket(`${proto}://${location.host}/feed${q.toString() ? `?${q}` : ''}`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      state.connected = true;
      backoff = 250;
      setStatus();
    };
    ws.onmessage = (ev) => {
      let f;
      try {
        f = typeof ev.data === 'string' ? JSON.parse(ev.data) : msgpackr.unpack(new Uint8Array(ev.data));
      } catch (e) {
        state.errors.push({ code: 'decode', message: String(e) });
        return;
      }
      handle(f);
    };
    ws.onclose = (ev) => {
      state.connected = false;
      setStatus(ev.reason || `closed (${ev.code})`);
      setTimeout(connect, backoff);
      backoff = Math.min(5000, backoff * 2);
    };
  }

  function setStatus(why) {
    const el = $('status');
    el.className = `status ${state.connected ? 'on' : 'off'}`;
    el.textContent = state.connected ? 'live' : `offline: ${why || 'connecting'}`;
  }

  // ---- drawing ----
  const fmtTime = (ms) => new Date(ms).toISOString().slice(11, 19);
  const fmtPx = (p, ref) => {
    const d = ref >= 1000 ? 1 : ref >= 10 ? 2 : 4;
    return p.toFixed(d);
  };

  function drawHeatmap() {
    const cv = $('heatmap');
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(100, Math.floor(cv.clientWidth * dpr));
    const H = Math.max(100, Math.floor(cv.clientHeight * dpr));
    if (cv.width !== W || cv.height !== H) { cv.width = W; cv.height = H; }
    const g = cv.getContext('2d');
    g.fillStyle = '#05070a';
    g.fillRect(0, 0, W, H);
    const books = state.books;
    const feats = state.feats;
    const last = Math.max(books.length ? books[books.length - 1].ts : 0, feats.length ? feats[feats.length - 1].ts : 0);
    if (!last) return;
    const padR = 70 * dpr, padB = 18 * dpr, strip = 10 * dpr;
    const pw = W - padR, ph = H - padB - strip - 2 * dpr;
    // Up to a minute of history; until there is a minute, what there is fills the width.
    const first = Math.min(books.length ? books[0].ts : last, feats.length ? feats[0].ts : last);
    const span = Math.max(2000, Math.min(WINDOW_MS, last - first));
    const t0 = last - span;
    // Price range: every level shown in the window, padded.
    let lo = Infinity, hi = -Infinity, maxSz = 0, tick = Infinity;
    for (const b of books) {
      if (b.ts < t0 - 5000) continue;
      for (const side of [b.bids, b.asks]) {
        for (let i = 0; i < side.length; i++) {
          const [p, s] = side[i];
          if (p < lo) lo = p;
          if (p > hi) hi = p;
          if (s > maxSz) maxSz = s;
          if (i > 0) { const d = Math.abs(p - side[i - 1][0]); if (d > 0 && d < tick) tick = d; }
        }
      }
    }
    for (const f of feats) if (f.ts >= t0 && f.mid === f.mid) { lo = Math.min(lo, f.mid); hi = Math.max(hi, f.mid); }
    if (!(hi > lo)) { hi = lo + 1; lo -= 1; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const X = (t) => ((t - t0) / span) * pw;
    const Y = (p) => ph - ((p - lo) / (hi - lo)) * ph;
    const cellH = Math.max(3 * dpr, Number.isFinite(tick) ? (tick / (hi - lo)) * ph : 3 * dpr);
    const logMax = Math.log1p(maxSz || 1);
    let cells = 0;
    for (let i = 0; i < books.length; i++) {
      const b = books[i];
      const x0 = X(b.ts);
      const x1 = i + 1 < books.length ? X(books[i + 1].ts) : pw;
      if (x1 < 0) continue;
      const w = Math.max(1, x1 - Math.max(0, x0) + 0.5);
      for (const side of [b.bids, b.asks]) {
        for (const [p, s] of side) {
          g.fillStyle = TURBO[Math.min(255, Math.round((Math.log1p(s) / logMax) * 255))];
          g.fillRect(Math.max(0, x0), Y(p) - cellH / 2, w, cellH);
          cells++;
        }
      }
    }
    state.heatCells = cells;
    // Mid and weighted mid.
    const line = (key, color, width) => {
      g.strokeStyle = color;
      g.lineWidth = width * dpr;
      g.beginPath();
      let pen = false;
      for (const f of feats) {
        if (f.ts < t0 || f[key] !== f[key]) { pen = false; continue; }
        const x = X(f.ts), y = Y(f[key]);
        if (pen) g.lineTo(x, y); else g.moveTo(x, y);
        pen = true;
      }
      g.stroke();
    };
    line('wmid', '#f2cc60', 1);
    line('mid', '#e6edf3', 1.5);
    // Predictions: a strip under the book, green for up, red for down, strength = probability.
    const sy = ph + 2 * dpr;
    g.fillStyle = '#0b0e13';
    g.fillRect(0, sy, pw, strip);
    const preds = state.preds;
    let lastMarker = -Infinity;
    for (let i = 0; i < preds.length; i++) {
      const p = preds[i];
      const x0 = X(p.ts), x1 = i + 1 < preds.length ? X(preds[i + 1].ts) : pw;
      if (x1 < 0) continue;
      const iu = p.classes.indexOf('up'), id = p.classes.indexOf('down');
      const up = iu >= 0 ? p.probs[iu] : 0, down = id >= 0 ? p.probs[id] : 0;
      const a = Math.min(1, Math.abs(up - down) * 1.5 + 0.1);
      g.fillStyle = up >= down ? `rgba(63,185,80,${a})` : `rgba(248,81,73,${a})`;
      g.fillRect(Math.max(0, x0), sy, Math.max(1, x1 - Math.max(0, x0)), strip);
      // And on the book: a marker on the mid where the model leans.
      const f = nearest(feats, p.ts);
      // At most one marker per 10 px, so a busy model does not hide the mid.
      if (f && f.mid === f.mid && Math.abs(up - down) > 0.2 && X(p.ts) - lastMarker >= 10 * dpr) {
        const x = X(p.ts), y = Y(f.mid);
        lastMarker = x;
        g.fillStyle = up >= down ? '#3fb950' : '#f85149';
        g.beginPath();
        const d = (up >= down ? -1 : 1) * 5 * dpr;
        g.moveTo(x - 4 * dpr, y + d * 0.2);
        g.lineTo(x + 4 * dpr, y + d * 0.2);
        g.lineTo(x, y + d * 1.4);
        g.fill();
      }
    }
    // Axes: prices on the right, seconds before the last update at the bottom.
    g.fillStyle = '#7d8590';
    g.font = `${11 * dpr}px system-ui, sans-serif`;
    g.textBaseline = 'middle';
    for (let k = 0; k <= 5; k++) {
      const p = lo + ((hi - lo) * k) / 5;
      g.fillText(fmtPx(p, hi), pw + 6 * dpr, Math.min(ph - 6 * dpr, Math.max(8 * dpr, Y(p))));
    }
    g.textBaseline = 'bottom';
    const step = span > 30_000 ? 10 : span > 10_000 ? 5 : 1;
    for (let s = 0; s * 1000 <= span; s += step) {
      const x = X(last - s * 1000);
      g.fillText(s === 0 ? fmtTime(last) : `-${s}s`, Math.min(pw - 50 * dpr, Math.max(0, x - 10 * dpr)), H);
    }
  }

  function nearest(arr, ts) {
    let lo = 0, hi = arr.length - 1;
    if (hi < 0) return null;
    while (lo < hi) {
      const m = (lo + hi + 1) >> 1;
      if (arr[m].ts <= ts) lo = m; else hi = m - 1;
    }
    return arr[lo];
  }

  let ofiPlot = null, vpinPlot = null;
  function plotOpts(el, series, height) {
    return {
      width: Math.max(200, el.clientWidth),
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: { x: { time: true } },
      axes: [
        { stroke: '#7d8590', grid: { stroke: '#262d36' }, ticks: { stroke: '#262d36' } },
        { stroke: '#7d8590', grid: { stroke: '#262d36' }, ticks: { stroke: '#262d36' }, size: 60 },
      ],
      series: [{}, ...series],
    };
  }

  function drawCharts() {
    const feats = state.feats;
    const xs = feats.map((f) => f.ts / 1000);
    const ofiEl = $('ofi'), vpinEl = $('vpin');
    if (!ofiPlot) {
      ofiPlot = new uPlot(plotOpts(ofiEl, [
        { label: 'ofi_1', stroke: '#58a6ff', width: 1, paths: uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 3] }) : undefined, fill: 'rgba(88,166,255,.35)' },
        { label: 'ofi_h50', stroke: '#f2cc60', width: 1.5 },
      ], 170), [[], [], []], ofiEl);
      vpinPlot = new uPlot(plotOpts(vpinEl, [{ label: 'vpin', stroke: '#d2a8ff', width: 1.5, fill: 'rgba(210,168,255,.12)' }], 170), [[], []], vpinEl);
    }
    const w = Math.max(200, ofiEl.clientWidth);
    if (ofiPlot.width !== w) { ofiPlot.setSize({ width: w, height: 170 }); vpinPlot.setSize({ width: Math.max(200, vpinEl.clientWidth), height: 170 }); }
    ofiPlot.setData([xs, feats.map((f) => f.ofi), feats.map((f) => f.ofi50)]);
    vpinPlot.setData([xs, feats.map((f) => (f.vpin === f.vpin ? f.vpin : null))]);
  }

  function renderQuote() {
    const b = state.books[state.books.length - 1];
    const f = state.feats[state.feats.length - 1];
    if (!b || !b.bids.length || !b.asks.length) { $('quote').textContent = state.sym ? `${state.sym}: waiting for the book` : ''; return; }
    const bb = b.bids[0], ba = b.asks[0];
    $('quote').innerHTML = `<b>${state.sym}</b> &nbsp; bid <b>${fmtPx(bb[0], bb[0])}</b> × ${bb[1]} &nbsp; ask <b>${fmtPx(ba[0], ba[0])}</b> × ${ba[1]}` +
      (f ? ` &nbsp; spread ${fmtPx(f.spread, ba[0])} &nbsp; mid <b>${fmtPx(f.mid, f.mid)}</b> &nbsp; vpin ${f.vpin === f.vpin ? f.vpin.toFixed(3) : '–'}` : '') +
      ` &nbsp; <span class="muted">${fmtTime(b.ts)} UTC</span>`;
  }

  function renderPred() {
    const el = $('pred');
    const p = state.preds[state.preds.length - 1];
    $('predsub').textContent = state.model ? `${state.model} on ${state.sym}` : '';
    if (!state.model) {
      const none = state.served !== null && state.sym && state.allModels.length && modelsFor(state.sym).length === 0;
      el.innerHTML = `<div class="muted">${none ? `no model serves ${esc(state.sym)}` : 'no model selected'}</div>`;
      return;
    }
    if (!p) { el.innerHTML = '<div class="muted">waiting for predictions</div>'; return; }
    const colour = (c) => (c === 'up' ? 'var(--up)' : c === 'down' ? 'var(--down)' : 'var(--muted)');
    el.innerHTML = p.classes.map((c, i) => `<div class="bar"><span>${c}</span><div class="track"><div class="fill" style="width:${(p.probs[i] * 100).toFixed(1)}%;background:${colour(c)}"></div></div><span class="v">${(p.probs[i] * 100).toFixed(1)}%</span></div>`).join('') +
      (p.latencyUs !== undefined ? `<div class="muted">event → prediction ${(p.latencyUs / 1000).toFixed(2)} ms</div>` : '');
  }

  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  }

  /** Evidence as `key value` pairs, numbers to 4 significant digits. */
  function evidence(ev) {
    return Object.entries(ev || {}).map(([k, v]) => `${k} ${typeof v === 'number' ? +v.toPrecision(4) : Array.isArray(v) ? v.join(',') : v}`).join(' · ');
  }

  const alertGroups = new Map();
  function renderAlerts() {
    const el = $('alerts');
    if (!alertGroups.size) return;
    const groups = Array.from(alertGroups.values()).reverse().slice(0, 60);
    el.innerHTML = groups.map(({ count, firstTs, last: a }) =>
      `<li class="${esc(a.severity)}"><div><b>${esc(a.sym)}</b> ${esc(a.kind)}${count > 1 ? ` <span class="count">×${count}</span>` : ''} <span class="muted">${esc(a.severity)}</span></div>` +
      (a.message ? `<div class="msg">${esc(a.message)}</div>` : '') +
      `<div class="t">${count > 1 ? `${fmtTime(firstTs)} – ` : ''}${fmtTime(a.ts)} UTC</div><div class="ev">${esc(evidence(a.evidence))}</div></li>`).join('');
  }

  /** Why the VPIN panel is blank: VPIN is NaN until its window of volume buckets has filled. */
  function renderVpinNote() {
    const el = $('vpinnote');
    const f = state.feats[state.feats.length - 1];
    if (!state.sym || (f && f.vpin === f.vpin)) { el.hidden = true; return; }
    el.hidden = false;
    const p = state.vpin[state.sym];
    if (!p) { el.textContent = `${state.sym} VPIN: undefined until its window of volume buckets has filled`; return; }
    const vol = p.bucketVolume.toLocaleString('en-US', { maximumSignificantDigits: 6 });
    el.textContent = p.buckets < p.window
      ? `${state.sym} VPIN: filling volume buckets ${p.buckets}/${p.window} (bucket volume ${vol}); VPIN is defined once all ${p.window} are full`
      : `${state.sym} VPIN: ${p.window} volume buckets full; defined from the next row`;
  }

  let lastDraw = 0;
  function frame(now) {
    requestAnimationFrame(frame);
    if (now - lastDraw < 100) return;
    lastDraw = now;
    try {
      drawHeatmap();
      drawCharts();
      renderQuote();
      renderPred();
      renderVpinNote();
      state.draws++;
      $('stats').textContent = `${state.frames.toLocaleString()} frames · dropped ${state.dropped} · gaps ${state.gaps}`;
    } catch (e) {
      state.errors.push({ code: 'draw', message: String(e && e.stack || e) });
    }
  }

  $('symbol').addEventListener('change', (e) => {
    choice.symbol = e.target.value;
    remember();
    onDirectory(state.symbols, state.allModels);
  });
  $('model').addEventListener('change', (e) => {
    choice.model = e.target.value;
    remember();
    select(state.sym, e.target.value);
  });
  setInterval(() => {
    send({ op: 'topics' });
    const f = state.feats[state.feats.length - 1];
    if (state.sym && !(f && f.vpin === f.vpin)) loadVpin();
  }, 3000);
  setTimeout(() => send({ op: 'topics' }), 500);
  connect();
  requestAnimationFrame(frame);
})();
