import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import type { RunningServer } from '../../src/server/server.ts';
import { testServer } from '../server/helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOT = 'out/dashboard/dashboard.png';

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  // The bundled GOOG day with the shipped models (models/), as `npm start` serves it, faster.
  // A small VPIN bucket (GOOG trades ~800 shares a minute) so the VPIN panel fills within seconds.
  server = await testServer((c) => { c.features.vpinBucketBySymbol = { GOOG: 100 }; }, {
    replay: ['lobster:data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz,data/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz'],
    speed: 20,
    models: 'models',
  }, { plugins: true });
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
  getElementById(id: string): { width: number; height: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
};

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
      const vpin = (s.feats as { vpin: number }[]).filter((f) => f.vpin === f.vpin).length;
      return s.connected && s.sym === 'GOOG' && s.model === 'goog-gbdt' && s.books.length >= 40 && vpin >= 20 && s.preds.length >= 50 && s.draws >= 3 && s.heatCells > 200;
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
});
