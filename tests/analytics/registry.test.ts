/**
 * The detector registry and the one Detector interface (issue 13): every entry is named as its
 * detector and its options group, and a detector added to the registry gets its events through the
 * hooks and its alerts out through the engine's one sink, without changing what the others raise.
 */
import { describe, expect, it } from 'vitest';
import { openSource } from '../../src/sources/spec.ts';
import { AnalyticsEngine } from '../../src/analytics/engine.ts';
import { analyticsTap } from '../../src/analytics/tap.ts';
import { analyticsOptions } from '../../src/analytics/options.ts';
import type { Alert } from '../../src/analytics/alerts.ts';
import { DETECTORS, type DetectorFactory } from '../../src/analytics/detectors/registry.ts';
import type { Detector } from '../../src/analytics/detectors/detector.ts';
import { R_ASK, R_BID, R_DISP, R_FILLS, R_SZ, R_TS, type DetectorContext } from '../../src/analytics/detectors/context.ts';
import { USDM } from '../../src/sources/samples.ts';
import { bookBuilder } from '../../src/pipeline/book.ts';

/** Counts each hook and checks a few of the register slots it is promised; one alert at its 1000th print. */
class Probe implements Detector {
  readonly kind = 'probe';
  n = { add: 0, cancel: 0, exec: 0, print: 0, againstBook: 0, parent: 0, parentFills: 0, book: 0 };
  bad: string[] = [];
  private lastTs = -Infinity;

  constructor(private readonly ctx: DetectorContext) {}

  private at(what: string): void {
    const ts = this.ctx.reg[R_TS]!;
    if (!Number.isFinite(ts)) this.bad.push(`${what}: R_TS ${ts}`);
    this.lastTs = ts;
  }

  onAdd(): void {
    this.n.add++;
    this.at('add');
    if (!(this.ctx.reg[R_SZ]! > 0)) this.bad.push(`add of ${this.ctx.reg[R_SZ]}`);
  }

  onCancel(): void {
    this.n.cancel++;
    this.at('cancel');
  }

  onExec(): void {
    this.n.exec++;
    this.at('exec');
  }

  onPrint(): void {
    this.n.print++;
    this.at('print');
    if (this.ctx.reg[R_DISP] === this.ctx.reg[R_DISP]) this.n.againstBook++;
    if (this.n.print === 1000) this.ctx.emit(this.lastTs, 'wash-trade', 'info', `${this.ctx.symbol} probe`, { prints: this.n.print });
  }

  onParentTrade(): void {
    this.n.parent++;
    this.n.parentFills += this.ctx.reg[R_FILLS]!;
  }

  onBook(): void {
    this.n.book++;
    this.at('book');
    if (!(this.ctx.reg[R_BID]! < this.ctx.reg[R_ASK]!)) this.bad.push(`book ${this.ctx.reg[R_BID]} / ${this.ctx.reg[R_ASK]}`);
  }

  counters(): Record<string, number> {
    return { probePrints: this.n.print };
  }
}

async function run(registry?: Readonly<Record<string, DetectorFactory>>): Promise<{ engine: AnalyticsEngine; alerts: Alert[] }> {
  const source = await openSource(USDM);
  const builder = bookBuilder({ levels: 10, sink: { onRow: (r) => engine.onRow(r) } });
  const alerts: Alert[] = [];
  const engine: AnalyticsEngine = new AnalyticsEngine({}, source.timeBase, { onAlert: (a) => alerts.push(a) }, builder, undefined, registry);
  await source.run(analyticsTap(engine, builder));
  builder.finish();
  engine.finish();
  return { engine, alerts };
}

describe('detector registry', () => {
  it('names each detector as its registry entry and its options group', () => {
    const o = analyticsOptions();
    const ctx: DetectorContext = { symbol: 'X', l3: false, reg: new Float64Array(32), emit() {}, detected() {} };
    expect(Object.keys(DETECTORS)).toEqual(['stuffing', 'spoofing', 'whale', 'hidden', 'wash', 'liquidity']);
    for (const [name, make] of Object.entries(DETECTORS)) {
      expect(make(o, ctx).kind).toBe(name);
      expect(o).toHaveProperty(name);
    }
  });

  it('gives an added detector every event through its hooks and its alerts through the engine\'s sink, the others unchanged', async () => {
    const probes: Probe[] = [];
    const withProbe = await run({ ...DETECTORS, probe: (_o, ctx) => { const p = new Probe(ctx); probes.push(p); return p; } });
    const without = await run();
    expect(probes.length).toBe(1);
    const p = probes[0]!;
    const stats = withProbe.engine.stats();
    expect(p.bad).toEqual([]);
    expect(p.n.print).toBe(stats.trades);
    // Every print belongs to exactly one aggressive order, judged when it ends (finish() judges the last).
    expect(p.n.parentFills).toBe(stats.trades);
    expect(p.n.parent).toBeGreaterThan(0);
    expect(p.n.againstBook).toBeGreaterThan(0);
    expect(p.n.againstBook).toBeLessThan(p.n.print);
    expect(p.n.book).toBeGreaterThan(0);
    expect(p.n.book).toBeLessThanOrEqual(stats.rows);
    for (const k of ['add', 'cancel', 'exec'] as const) expect(p.n[k], k).toBeGreaterThan(0);
    expect(withProbe.engine.detectorState('BTCUSDT')!['probePrints']).toBe(p.n.print);

    const mine = withProbe.alerts.filter((a) => a.message === 'BTCUSDT probe');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ symbol: 'BTCUSDT', kind: 'wash-trade', evidence: { prints: 1000 } });
    expect(withProbe.alerts.filter((a) => a !== mine[0])).toEqual(without.alerts);
    expect(without.alerts.length).toBeGreaterThan(100);
  }, 60_000);
});
