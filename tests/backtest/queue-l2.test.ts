/**
 * L2 queue models on hand-built level sequences. Every expected number is worked out beside it from
 * the formulas in docs/backtest.md (queue block): ahead starts at the level size; a trade takes its
 * size off ahead and fills what goes past the front; a depth update's decrease net of the trades
 * since the previous update is a cancel, which risk-averse puts behind the order (ahead = min(ahead,
 * level)) and prob-f splits with share behind p = f(behind) / (f(behind) + f(ahead)).
 */
import { describe, expect, it } from 'vitest';
import { queueModel, QUEUE_MODEL_NAMES, L2_QUEUE_MODEL_NAMES, needsOrders, type QueueModel, type QueueState } from '../../src/backtest/queue/index.ts';

type Step = { t: number; trade: number } | { t: number; depth: number };

/** Feeds one order through a level history and returns its fills as [t, qty]. */
function run(model: QueueModel, level0: number, qty: number, steps: Step[]): { fills: [number, number][]; s: QueueState } {
  const s = model.join(level0, qty, 0, 100);
  let level = level0;
  const fills: [number, number][] = [];
  for (const st of steps) {
    if ('trade' in st) {
      const f = model.onTrade(s, st.trade, st.t);
      if (f > 0) fills.push([st.t, f]);
    } else {
      model.onDepth(s, level, st.depth, st.t);
      level = st.depth;
    }
  }
  return { fills, s };
}

describe('queue model registry', () => {
  it('builds every named model and refuses unknown or malformed specs, naming them', () => {
    for (const n of QUEUE_MODEL_NAMES) expect(queueModel(n).name).toBe(n);
    expect(queueModel('prob-power:2.5').name).toBe('prob-power:2.5');
    expect(L2_QUEUE_MODEL_NAMES.every((n) => !needsOrders(n))).toBe(true);
    expect(needsOrders('exact')).toBe(true);
    expect(() => queueModel('fifo')).toThrow(/queue model "fifo": unknown; choose one of risk-averse, prob-power:N, prob-log, exact/);
    expect(() => queueModel('prob-power:0')).toThrow(/prob-power:0.*exponent.*> 0/);
    expect(() => queueModel('prob-power:x')).toThrow(/"x"/);
  });
});

describe('risk-averse', () => {
  it('moves up only by trades and by the level shrinking below it; fills what passes the front', () => {
    const m = queueModel('risk-averse');
    const s = m.join(300, 100, 0, 100);
    expect(s).toEqual({ ahead: 300, remaining: 100 });
    expect(m.onTrade(s, 200, 1)).toBe(0); // 300 - 200 = 100 ahead
    m.onDepth(s, 300, 100, 2); // the update reporting that trade: min(100, 100) leaves it
    expect(s.ahead).toBe(100);
    m.onDepth(s, 100, 400, 3); // orders join behind
    expect(s.ahead).toBe(100);
    expect(m.onTrade(s, 150, 4)).toBe(50); // 100 - 150 = -50: 50 of ours fill, we are at the front
    expect(s).toEqual({ ahead: 0, remaining: 50 });
    m.onDepth(s, 400, 250, 5);
    expect(m.onTrade(s, 80, 6)).toBe(50); // at the front: the trade fills the rest
    expect(s.remaining).toBe(0);
    expect(m.onTrade(s, 80, 7)).toBe(0);
  });

  it('a cancel moves the order only when the level falls below what is ahead', () => {
    const m = queueModel('risk-averse');
    const s = m.join(500, 100, 0, 100);
    m.onDepth(s, 500, 600, 1);
    m.onDepth(s, 600, 550, 2); // 50 cancelled: assumed behind
    expect(s.ahead).toBe(500);
    m.onDepth(s, 550, 200, 3); // the level can hold only 200 ahead of us
    expect(s.ahead).toBe(200);
    expect(m.onTrade(s, 200, 4)).toBe(0); // exactly to the front: nothing of ours trades yet
    expect(m.onTrade(s, 30, 5)).toBe(30);
  });

  it('reduce keeps the place: the quantity ahead is unchanged and a later fill is capped by the new size', () => {
    const m = queueModel('risk-averse');
    const s = m.join(200, 100, 0, 100);
    m.onTrade(s, 150, 1); // 50 ahead
    m.reduce!(s, 40);
    expect(s).toEqual({ ahead: 50, remaining: 40 });
    expect(m.onTrade(s, 100, 2)).toBe(40); // 50 past the front, but only 40 left
    expect(() => m.reduce!(s, 10)).toThrow(/reduce to 10 from 0/);
  });

  it('lot rounding: fills are whole lots, never more than the trade', () => {
    const m = queueModel('prob-power:2', { lot: 1 });
    const s = m.join(100, 50, 0, 100);
    s.ahead = 10.4; // as a probabilistic update would leave it
    expect(m.onTrade(s, 20, 1)).toBe(10); // 9.6 past the front rounds to 10
    expect(s.ahead).toBe(0);
  });
});

describe('probabilistic models', () => {
  it('prob-power:2 splits a cancel by f(x) = x^2, and a trade plus the depth update that reports it move the order once', () => {
    const m = queueModel('prob-power:2');
    const s = m.join(400, 100, 0, 100);
    m.onDepth(s, 400, 600, 1); // +200 behind; the front does not move
    expect(s.ahead).toBe(400);
    expect(m.onTrade(s, 100, 2)).toBe(0); // ahead 300, 100 traded since the last update
    m.onDepth(s, 600, 500, 3); // decrease 100, all of it the trade: no cancel
    expect(s.ahead).toBe(300);
    // Were the trade counted again, the 100 would be split as a cancel: ahead 300, behind 200,
    // p = 200^2/(200^2+300^2) = 4/13, ahead - 100*9/13 = 230.77. It is not:
    expect(s.ahead).not.toBeCloseTo(300 - (100 * 9) / 13, 6);
    m.onDepth(s, 500, 400, 4); // now a real cancel of 100: behind = 500 - 0 - 300 = 200
    expect(s.ahead).toBeCloseTo(300 - (100 * 9) / 13, 9); // 3000/13 = 230.769...
    expect(m.onTrade(s, 250, 5)).toBeCloseTo(250 - 3000 / 13, 9); // 19.23 past the front
    expect(s.ahead).toBe(0);
    expect(s.remaining).toBeCloseTo(100 - (250 - 3000 / 13), 9);
  });

  it('a trade and a cancel in the same update: only the part the trades do not explain is split', () => {
    const m = queueModel('prob-power:2');
    const s = m.join(300, 100, 0, 100);
    m.onDepth(s, 300, 500, 1); // ahead 300, behind 200
    m.onTrade(s, 50, 2); // ahead 250; the level net of it is 450: 250 ahead, 200 behind
    m.onDepth(s, 500, 350, 3); // decrease 150 = 50 traded + 100 cancelled
    // p = 200^2/(200^2+250^2) = 16/41 behind, 25/41 ahead: 250 - 100*25/41
    expect(s.ahead).toBeCloseTo(250 - (100 * 25) / 41, 9);
  });

  it('prob-power:3 and prob-log split the same cancel differently', () => {
    const p3 = queueModel('prob-power:3');
    const lg = queueModel('prob-log');
    for (const m of [p3, lg]) {
      const s = m.join(300, 100, 0, 100);
      m.onDepth(s, 300, 500, 1);
      m.onDepth(s, 500, 400, 2); // cancel 100 with 300 ahead, 200 behind
      const share = m === p3 ? 27e6 / (8e6 + 27e6) : Math.log(301) / (Math.log(201) + Math.log(301));
      expect(s.ahead).toBeCloseTo(300 - 100 * share, 9);
    }
  });

  it('a cancel never fills: each side gives at most what it holds (hftbacktest would go to -15 here)', () => {
    const m = queueModel('prob-power:2');
    const s = m.join(300, 100, 0, 100);
    m.onDepth(s, 300, 400, 1); // 300 ahead, 100 behind
    m.onDepth(s, 400, 50, 2); // 350 cancelled; p = 100^2/(100^2+300^2) = 0.1: 315 ahead > 300
    expect(s.ahead).toBe(0);
    expect(m.onTrade(s, 10, 3)).toBe(10); // the trade fills 10, not 10 + 15
  });

  it('at the front, every cancel is behind', () => {
    const m = queueModel('prob-log');
    const s = m.join(0, 100, 0, 100);
    m.onDepth(s, 0, 200, 1);
    m.onDepth(s, 200, 100, 2); // p = f(100)/(f(100)+f(0)) = 1
    expect(s.ahead).toBe(0);
    expect(m.onTrade(s, 30, 3)).toBe(30);
  });
});

describe('fill time and quantity under each L2 model on one level history', () => {
  // Level 500 at the join, our 100 at the back. t1: 200 join behind. t2: 300 cancelled (no
  // trade). t3: a trade of 250. t4: the update reporting it. t5: trade 150. t6: trade 60.
  const steps: Step[] = [
    { t: 1, depth: 700 },
    { t: 2, depth: 400 },
    { t: 3, trade: 250 },
    { t: 4, depth: 150 },
    { t: 5, trade: 150 },
    { t: 6, trade: 60 },
  ];

  it('risk-averse: the cancel is behind (ahead min(500, 400) = 400); 400 - 250 - 150 = 0, so only t6 fills, 60', () => {
    const { fills, s } = run(queueModel('risk-averse'), 500, 100, steps);
    expect(fills).toEqual([[6, 60]]);
    expect(s.remaining).toBe(40);
  });

  it('prob-power:2: ahead 500 - 300*25/29 = 7000/29 after the cancel; t3 fills 250 - 7000/29, t5 the rest', () => {
    const { fills } = run(queueModel('prob-power:2'), 500, 100, steps);
    const a = 500 - (300 * 25) / 29;
    expect(fills.map((f) => f[0])).toEqual([3, 5]);
    expect(fills[0]![1]).toBeCloseTo(250 - a, 9); // 8.62
    expect(fills[1]![1]).toBeCloseTo(100 - (250 - a), 9);
  });

  it('prob-power:3: ahead 500 - 300*125/133; t3 fills 250 - that (31.95), t5 the rest', () => {
    const { fills } = run(queueModel('prob-power:3'), 500, 100, steps);
    const a = 500 - (300 * 125) / 133;
    expect(fills.map((f) => f[0])).toEqual([3, 5]);
    expect(fills[0]![1]).toBeCloseTo(250 - a, 9);
    expect(fills[1]![1]).toBeCloseTo(100 - (250 - a), 9);
  });

  it('prob-log: ahead 500 - 300*ln501/(ln201+ln501) = 338.1; t3 leaves 88.1 ahead, t5 fills 61.9, t6 the last 38.1', () => {
    const { fills, s } = run(queueModel('prob-log'), 500, 100, steps);
    const a = 500 - (300 * Math.log(501)) / (Math.log(201) + Math.log(501)) - 250;
    expect(fills.map((f) => f[0])).toEqual([5, 6]);
    expect(fills[0]![1]).toBeCloseTo(150 - a, 9);
    expect(fills[1]![1]).toBeCloseTo(100 - (150 - a), 9);
    expect(s.remaining).toBeCloseTo(0, 9);
  });
});
