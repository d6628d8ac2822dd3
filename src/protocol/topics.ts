/**
 * Topic names of the feed protocol (docs/protocol.md, "Topics"): their grammar, the symbol and model
 * name rules, and which kinds carry a state and which carry events.
 */

/** Topic kinds, by their prefix. */
export type TopicKind = 'book' | 'features' | 'pred' | 'alerts';

export interface ParsedTopic {
  kind: TopicKind;
  /** The symbol, or '*' for `alerts.*`. */
  symbol: string;
  /** Model name for `pred.<MODEL>.<SYM>`. */
  model?: string;
}

/** Symbols: a letter or digit, then letters, digits and `_ . : - /`, at most 40 characters. */
export const SYMBOL_RE = /^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,39}$/;
/** Model names: letters, digits, `_` and `-` (no dot: it separates the model from the symbol). */
export const MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$/;
export const MAX_TOPIC_LENGTH = 120;

/** Parses a topic name; undefined when it does not follow the grammar. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (typeof topic !== 'string' || topic.length > MAX_TOPIC_LENGTH) return undefined;
  const dot = topic.indexOf('.');
  if (dot <= 0) return undefined;
  const prefix = topic.slice(0, dot);
  const rest = topic.slice(dot + 1);
  switch (prefix) {
    case 'book':
    case 'features':
      return SYMBOL_RE.test(rest) ? { kind: prefix, symbol: rest } : undefined;
    case 'alerts':
      return rest === '*' || SYMBOL_RE.test(rest) ? { kind: 'alerts', symbol: rest } : undefined;
    case 'pred': {
      const d2 = rest.indexOf('.');
      if (d2 <= 0) return undefined;
      const model = rest.slice(0, d2);
      const symbol = rest.slice(d2 + 1);
      return MODEL_RE.test(model) && SYMBOL_RE.test(symbol) ? { kind: 'pred', symbol, model } : undefined;
    }
    default:
      return undefined;
  }
}

export const topicOf = {
  book: (sym: string): string => `book.${sym}`,
  features: (sym: string): string => `features.${sym}`,
  pred: (model: string, sym: string): string => `pred.${model}.${sym}`,
  alerts: (sym: string): string => `alerts.${sym}`,
  allAlerts: 'alerts.*',
};

/**
 * Book and features frames describe a state: a newer one supersedes an older one, so a slow client
 * may miss some (it is told how many). Predictions and alerts are events: never dropped silently.
 */
export function isConflatable(kind: TopicKind): boolean {
  return kind === 'book' || kind === 'features';
}
