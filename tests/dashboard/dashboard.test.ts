import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningServer } from '../../src/server/server.ts';
import { testServer, until } from '../server/helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOT = 'out/dashboard/dashboard.png';
const GOOG = 'lobster:data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz,data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz';
const AMZN = 'lobster:data/lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip';
const BTC = 'binance:data/binance/binance-spot_btcusdt_20240808.jsonl.gz';
const SYMBOLS = ['AMZN', 'BTCUSDT', 'GOOG'];

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  // The bundled samples with the shipped models (models/), as `npm start` serves them, faster.
  // GOOG's VPIN bucket is left on auto, so it takes the 760 shares the models were trained with
  // (issue 17: a model is fed only the feature parameters it learned; ~800 shares trade a minute,
  // so 50 buckets take longer than a test); BTCUSDT's is small, so its VPIN panel fills within
  // seconds (212 BTC trade in the sample's 6 minutes); and one AMZN bucket cannot fill in a test.
  // The models serve only the equities, the transformer and the lag trees only GOOG (each symbol its own set).
  server = await testServer((c) => {
    c.features.vpinBucketBySymbol = { AMZN: 1e9, BTCUSDT: 0.2 };
    c.models.symbols = { 'goog-gbdt': ['GOOG', 'AMZN'], 'goog-transformer': ['GOOG'], 'goog-gbdt-lags': ['GOOG'] };
  }, { replay: [GOOG, AMZN, BTC], speed: 20, models: 'models' }, { plugins: true });
  // Every symbol known before a page loads, so its first directory is the whole one.
  await until(() => SYMBOLS.every((s) => server.pipeline.symbols().includes(s)), 30_000, 'all three symbols');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

interface DashState {
  connected: boolean;
  sym: string;
  model: string;
  counts: Record<string, number>;
  preds: unknown[];
  books: unknown[];
  feats: unknown[];
  alerts: unknown[];
  draws: number;
  heatCells: number;
  gaps: number;
  errors: unknown[];
}

// Browser globals used inside page.evaluate callbacks (the project's tsconfig has no DOM library).
declare const window: { __flowcast: DashState };
declare const document: {
  getElementById(id: string): { width: number; height: number; hidden: boolean; textContent: string; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
  querySelectorAll(sel: string): ArrayLike<{ textContent: string | null }>;
};
declare const location: { hash: string };

/** Options of a <select>, in order. */
function options(page: Page, sel: string): Promise<string[]> {
  return page.locator(`${sel} option`).evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
}

/** The symbols a page subscribed books for, in order (what it showed, however briefly). */
function bookSubscriptions(page: Page): string[] {
  const out: string[] = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => {
    const m = JSON.parse(String(f.payload)) as { op?: string; topics?: string[] };
    if (m.op === 'subscribe') for (const t of m.topics ?? []) if (t.startsWith('book.')) out.push(t.slice(5));
  }));
  return out;
}

describe.skipIf(!existsSync(CHROMIUM))('dashboard', () => {
  it('draws the live heatmap, mid lines, predictions, OFI and VPIN panels and alerts, all from local assets', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    page.on('request', (r) => requests.push(r.url()));
    const sockets: string[] = [];
    page.on('websocket', (w) => sockets.push(w.url()));

    await page.goto(`${server.url}?symbol=GOOG&model=goog-gbdt`);
    await page.waitForFunction(() => {
      const s = window.__flowcast;
      return s.connected && s.sym === 'GOOG' && s.model === 'goog-gbdt' && s.books.length >= 40 && s.preds.length >= 50 && s.draws >= 3 && s.heatCells > 200;
    }, undefined, { timeout: 45_000 });
    expect(await page.locator('#pred .bar').count()).toBe(3);
    expect(await page.textContent('#pred')).toMatch(/down[\d.]+%flat[\d.]+%up[\d.]+%event → prediction [\d.]+ ms/);

    server.pipeline.publishAlert({ symbol: 'GOOG', ts: Math.round(server.pipeline.tb.fromEpochMs(Date.now())), kind: 'vpin-high', severity: 'warn', evidence: { vpin: 0.61, threshold: 0.5 } });
    await page.waitForSelector('#alerts li.warn', { timeout: 5000 });
    expect(await page.textContent('#alerts li.warn')).toContain('vpin-high');

    // The heatmap holds many colours (sizes), not a blank canvas.
    const colours = await page.evaluate(() => {
      const c = document.getElementById('heatmap');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set<number>();
      let painted = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i] !== 5 || d[i + 1] !== 7 || d[i + 2] !== 10) painted++;
        seen.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
      }
      return { distinct: seen.size, painted, total: d.length / 4 };
    });
    expect(colours.distinct).toBeGreaterThan(40);
    expect(colours.painted / colours.total).toBeGreaterThan(0.02);
    expect(await page.locator('.uplot').count()).toBe(2);
    expect(await page.textContent('#quote')).toMatch(/GOOG\s+bid \d+\.\d+ × [\d.]+\s+ask/);
    expect(await page.textContent('#status')).toBe('live');
    // The VPIN panel drawn: BTCUSDT's buckets fill within seconds.
    await page.selectOption('#symbol', 'BTCUSDT');
    await page.waitForFunction(() => {
      const s = window.__flowcast;
      return s.sym === 'BTCUSDT' && (s.feats as { vpin: number }[]).filter((f) => f.vpin === f.vpin).length >= 20 && s.draws >= 3;
    }, undefined, { timeout: 45_000 });
    await page.waitForFunction(() => document.getElementById('vpinnote').hidden, undefined, { timeout: 10_000 });
    const state = await page.evaluate(() => window.__flowcast);
    expect(state.errors).toEqual([]);
    expect(state.gaps).toBe(0);

    mkdirSync('out/dashboard', { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    expect(statSync(SHOT).size).toBeGreaterThan(20_000);

    // Everything came from this server: no CDN, no other host.
    const origin = server.url.replace(/\/$/, '');
    expect(requests.filter((u) => !u.startsWith(origin))).toEqual([]);
    expect(sockets).toEqual([`ws://127.0.0.1:${server.port}/feed`]);
    expect(requests).toEqual(expect.arrayContaining([`${origin}/vendor/uPlot.iife.min.js`, `${origin}/vendor/msgpackr.min.js`]));
    expect(problems, requests.join("\n")).toEqual([]);
    await page.close();
  });

  it('says why the VPIN panel is blank: the volume buckets still filling, n of the window', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.url}?symbol=AMZN`);
    await page.waitForFunction(() => window.__flowcast.sym === 'AMZN' && window.__flowcast.feats.length > 0, undefined, { timeout: 30_000 });
    await page.waitForFunction(() => /filling volume buckets \d+\/50/.test(document.getElementById('vpinnote').textContent), undefined, { timeout: 30_000 });
    const note = (await page.textContent('#vpinnote'))!;
    expect(note).toMatch(/^AMZN VPIN: filling volume buckets \d+\/50 \(bucket volume 1,000,000,000\); VPIN is defined once all 50 are full$/);
    expect(await page.locator('#vpinnote').isVisible()).toBe(true);
    const { vpin } = (await (await fetch(`${server.url}v1/topics`)).json()) as { vpin: Record<string, { buckets: number; window: number; bucketVolume: number }> };
    expect(vpin['AMZN']).toMatchObject({ window: 50, bucketVolume: 1e9 });
    // GOOG on auto took the bucket its models were trained with.
    expect(vpin['GOOG']!.bucketVolume).toBe(760);
    await page.close();
  });

  it('offers only the models that serve the selected symbol (GET /v1/models)', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.url}?symbol=BTCUSDT`);
    await page.waitForFunction(() => window.__flowcast.sym === 'BTCUSDT' && (window.__flowcast as unknown as { served: unknown }).served !== null, undefined, { timeout: 30_000 });
    expect(await options(page, '#model')).toEqual(['']);
    expect(await page.textContent('#pred')).toBe('no model serves BTCUSDT');
    await page.selectOption('#symbol', 'AMZN');
    await page.waitForFunction(() => window.__flowcast.sym === 'AMZN');
    expect(await options(page, '#model')).toEqual(['', 'goog-gbdt']);
    expect(await page.inputValue('#model')).toBe('goog-gbdt');
    // The model it offers does predict this symbol: not "waiting for predictions" forever.
    await page.waitForFunction(() => window.__flowcast.preds.length > 0, undefined, { timeout: 30_000 });
    await page.selectOption('#symbol', 'GOOG');
    await page.waitForFunction(() => window.__flowcast.sym === 'GOOG');
    // goog-levels-transformer (raw book levels) serves the symbol it was trained on when the config does not name it.
    expect(await options(page, '#model')).toEqual(['', 'goog-gbdt', 'goog-gbdt-lags', 'goog-levels-transformer', 'goog-transformer']);
    await page.close();
  });

  it('collapses repeats of one symbol\'s alert kind into one line with a count, so other symbols\' alerts stay in view', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${server.url}?symbol=GOOG`);
    await page.waitForFunction(() => window.__flowcast.connected && window.__flowcast.sym === 'GOOG', undefined, { timeout: 30_000 });
    const ts = (): number => Math.round(server.pipeline.tb.fromEpochMs(Date.now()));
    server.pipeline.publishAlert({ symbol: 'AMZN', ts: ts(), kind: 'test-other', severity: 'warn', evidence: { n: 1 } });
    for (let i = 0; i < 40; i++) server.pipeline.publishAlert({ symbol: 'GOOG', ts: ts(), kind: 'test-flood', severity: 'warn', evidence: { n: i } });
    await page.waitForFunction(() => (window.__flowcast.alerts as { kind: string }[]).filter((a) => a.kind === 'test-flood').length === 40, undefined, { timeout: 30_000 });
    const lines = await page.evaluate(() => Array.from(document.querySelectorAll('#alerts li'), (li) => li.textContent ?? ''));
    const flood = lines.filter((l) => l.includes('test-flood'));
    expect(flood).toHaveLength(1);
    expect(flood[0]).toMatch(/GOOG test-flood ×40/);
    expect(flood[0]).toContain('n 39');
    expect(lines.filter((l) => /AMZN test-other/.test(l))).toHaveLength(1);
    // The replays' own detectors (whale orders on BTCUSDT, ...) collapse the same way.
    const keys = lines.map((l) => /^(\S+ \S+)/.exec(l)?.[1]);
    expect(new Set(keys).size).toBe(keys.length);
    await page.close();
  });

  it('opens on the first symbol in sorted order, whatever is most active, and remembers the user\'s pick', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const shown = bookSubscriptions(page);
    const settled = async (): Promise<DashState> => {
      // Two topic replies: the directory refreshed after the page chose, models known.
      await page.waitForFunction(() => (window.__flowcast.counts['topics'] ?? 0) >= 2 && (window.__flowcast as unknown as { served: unknown }).served !== null, undefined, { timeout: 30_000 });
      return page.evaluate(() => window.__flowcast);
    };
    for (let load = 0; load < 2; load++) {
      shown.length = 0;
      await page.goto(server.url);
      const s = await settled();
      expect([s.sym, s.model]).toEqual(['AMZN', 'goog-gbdt']);
      expect(shown).toEqual(['AMZN']);
    }
    await page.selectOption('#symbol', 'GOOG');
    await page.selectOption('#model', 'goog-transformer');
    expect(await page.evaluate(() => location.hash)).toBe('#symbol=GOOG&model=goog-transformer');
    shown.length = 0;
    await page.goto(server.url);
    const s = await settled();
    expect([s.sym, s.model]).toEqual(['GOOG', 'goog-transformer']);
    expect(shown).toEqual(['GOOG']);
    await context.close();
  });
});
