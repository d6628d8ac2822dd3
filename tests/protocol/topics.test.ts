import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TOPICS, TOPIC_KINDS, TOPIC_SPECS, matchTopic, parseTopic } from '../../src/protocol/topics.ts';
import { RequestError, validateRequest } from '../../src/protocol/frames.ts';

/** A name of each entry from its parts, and the parts parse should give back. */
function sample(spec: (typeof TOPIC_SPECS)[number]): { name: string; symbol: string; model?: string } {
  switch (spec.name.length) {
    case 0: return { name: spec.name(), symbol: '*' };
    case 1: return { name: spec.name('BRK.B'), symbol: 'BRK.B' };
    case 2: return { name: spec.name('deeplob-v1', 'BRK.B'), symbol: 'BRK.B', model: 'deeplob-v1' };
    default: throw new Error(`${spec.pattern}: a name of ${spec.name.length} parts`);
  }
}

function requestError(f: () => unknown): RequestError {
  try {
    f();
  } catch (e) {
    if (e instanceof RequestError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('topic registry', () => {
  it('parses each entry\'s names back to their parts, under that entry and no other', () => {
    for (const spec of TOPIC_SPECS) {
      const s = sample(spec);
      expect(matchTopic(s.name)?.spec, s.name).toBe(spec);
      expect(parseTopic(s.name), s.name).toEqual({ kind: spec.kind, symbol: s.symbol, ...(s.model ? { model: s.model } : {}) });
      expect(TOPIC_SPECS.filter((o) => o.parse(s.name)), s.name).toEqual([spec]);
    }
  });

  it('is the topic table of docs/protocol.md, entry for entry, with its state and event kinds', () => {
    const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
    const table = doc.slice(doc.indexOf('## Topics'), doc.indexOf('## Requests'));
    const rows = [...table.matchAll(/^\| `([^`]+)` \|.*\| (state|event) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toEqual(TOPIC_SPECS.map((s) => [s.pattern, s.delivery]));
  });

  it('drives request validation: every entry is accepted, anything else is a bad-topic naming every entry', () => {
    const names = TOPIC_SPECS.map((s) => sample(s).name);
    expect(validateRequest({ op: 'subscribe', topics: names }, 100)).toEqual({ op: 'subscribe', topics: names, id: undefined });
    for (const bad of ['trades.BTCUSDT', 'alerts.**', `${TOPICS.pred.under('m')}`, 'features']) {
      const e = requestError(() => validateRequest({ op: 'subscribe', topics: [bad] }, 100));
      expect(e.code, bad).toBe('bad-topic');
      expect(e.topics).toEqual([bad]);
      for (const s of TOPIC_SPECS) expect(e.message, bad).toContain(s.pattern);
    }
  });

  it('lists each kind once, as the feed\'s metrics label them', () => {
    expect(TOPIC_KINDS).toEqual(['book', 'features', 'pred', 'alerts']);
    for (const k of TOPIC_KINDS) expect(new Set(TOPIC_SPECS.filter((s) => s.kind === k).map((s) => s.delivery)).size, k).toBe(1);
  });
});
