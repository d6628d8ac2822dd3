/**
 * The topic registry of the feed protocol (docs/protocol.md, "Topics"): one entry per form of topic
 * name, with its grammar, what its frames are and how they reach a slow client. The broker, request
 * validation and everything that names a topic go through it, so a new topic is one entry here.
 */

/** The `t` of the data frames a topic carries (frames.ts checks its DataFrame union against it). */
export type DataFrameKind = 'book' | 'features' | 'pred' | 'alert';

/** Symbols: a letter or digit, then letters, digits and `_ . : - /`, at most 40 characters. */
export const SYMBOL_RE = /^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,39}$/;
/** Model names: letters, digits, `_` and `-` (no dot: it separates the model from the symbol). */
export const MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$/;
/**
 * The model part of a `pred` topic: a model name, or a model name and one of its kept versions,
 * `NAME@vN` (a version served beside the current one, for A/B; `@` is in neither grammar, so the
 * first dot still ends the model part).
 */
export const MODEL_TOPIC_RE = /^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}(@v[1-9][0-9]{0,8})?$/;
export const MAX_TOPIC_LENGTH = 120;

/**
 * A state topic's frame supersedes the one before it, so a slow client is sent only the newest and
 * told how many it missed; an event topic's frames all matter, so they queue (a client too slow for
 * them is disconnected instead).
 */
export type Delivery = 'state' | 'event';

export interface TopicSpec<K extends string = string> {
  /** The topic's kind: its name's prefix, and the label of the feed's metrics. Several entries may share one. */
  readonly kind: K;
  /** How the docs and error messages write its names. */
  readonly pattern: string;
  /** The `t` of the frames published on it. */
  readonly carries: DataFrameKind;
  readonly delivery: Delivery;
  /** A name of this entry, from its parts (the symbol; for `pred`, the model and the symbol). */
  name(...parts: string[]): string;
  /** What a name of this entry is made of; undefined for a name that is not one of its names. */
  parse(name: string): { kind: K; symbol: string; model?: string } | undefined;
}

function perSymbol<const K extends string>(kind: K, carries: DataFrameKind, delivery: Delivery) {
  const prefix = `${kind}.`;
  return {
    kind, pattern: `${prefix}<SYM>`, carries, delivery,
    name: (sym: string): string => prefix + sym,
    parse(name: string): { kind: K; symbol: string } | undefined {
      if (!name.startsWith(prefix)) return undefined;
      const symbol = name.slice(prefix.length);
      return SYMBOL_RE.test(symbol) ? { kind, symbol } : undefined;
    },
  } satisfies TopicSpec<K>;
}

const PRED = 'pred.';

export const TOPICS = {
  book: perSymbol('book', 'book', 'state'),
  features: perSymbol('features', 'features', 'state'),
  pred: {
    kind: 'pred', pattern: `${PRED}<MODEL>.<SYM>`, carries: 'pred', delivery: 'event',
    name: (model: string, sym: string): string => `${PRED}${model}.${sym}`,
    /** The start every name of a model's predictions shares (for "may read some symbol's predictions"). */
    under: (model: string): string => `${PRED}${model}.`,
    parse(name: string): { kind: 'pred'; symbol: string; model: string } | undefined {
      if (!name.startsWith(PRED)) return undefined;
      // The first dot ends the model name: model names have none, symbols may.
      const dot = name.indexOf('.', PRED.length);
      if (dot <= PRED.length) return undefined;
      const model = name.slice(PRED.length, dot);
      const symbol = name.slice(dot + 1);
      return MODEL_TOPIC_RE.test(model) && SYMBOL_RE.test(symbol) ? { kind: 'pred', symbol, model } : undefined;
    },
  },
  alerts: perSymbol('alerts', 'alert', 'event'),
  /** Every symbol's alerts in one topic, with its own sequence numbers. */
  allAlerts: {
    kind: 'alerts', pattern: 'alerts.*', carries: 'alert', delivery: 'event',
    name: (): string => 'alerts.*',
    parse: (name: string): { kind: 'alerts'; symbol: string } | undefined => (name === 'alerts.*' ? { kind: 'alerts', symbol: '*' } : undefined),
  },
} as const;

// Typed here rather than with `satisfies` above: an entry may have more than a TopicSpec (pred.under).
export const TOPIC_SPECS: readonly TopicSpec<TopicKind>[] = Object.values(TOPICS);

export type TopicKind = (typeof TOPICS)[keyof typeof TOPICS]['kind'];

/** Each kind once, in registry order. */
export const TOPIC_KINDS: readonly TopicKind[] = [...new Set(TOPIC_SPECS.map((s) => s.kind))];

export interface ParsedTopic {
  kind: TopicKind;
  /** The symbol, or '*' for `alerts.*`. */
  symbol: string;
  /** Model name for `pred.<MODEL>.<SYM>`. */
  model?: string;
}

/** The registry entry a topic name belongs to, and what the name is made of. */
export interface TopicMatch {
  spec: TopicSpec<TopicKind>;
  parsed: ParsedTopic;
}

/** Finds a topic name's registry entry; undefined when no entry's grammar admits it. */
export function matchTopic(name: string): TopicMatch | undefined {
  if (typeof name !== 'string' || name.length > MAX_TOPIC_LENGTH) return undefined;
  for (const spec of TOPIC_SPECS) {
    const parsed = spec.parse(name);
    if (parsed) return { spec, parsed };
  }
  return undefined;
}

/** Parses a topic name; undefined when it does not follow the grammar. */
export function parseTopic(name: string): ParsedTopic | undefined {
  return matchTopic(name)?.parsed;
}

/** The topic names the protocol admits, as the docs write them ("book.<SYM>, ... or alerts.*"). */
export function topicPatterns(): string {
  const p = TOPIC_SPECS.map((s) => s.pattern);
  return `${p.slice(0, -1).join(', ')} or ${p[p.length - 1]}`;
}
