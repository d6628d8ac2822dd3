/**
 * The one place a book builder is made. Every path from a source to rows (the live pipeline, the
 * batch features and analytics runs, the compute parity capture, the recorder's sync tracking, a
 * venue's book verification) takes its builder from here, so what the pipeline wires stays in the
 * pipeline and a change to how books are built (sync rules, policy, depth) has one site to touch.
 */
import { BookBuilder, type BookBuilderOptions } from '../book/builder.ts';
import { sequenceRule } from '../venues/registry.ts';

/** A book builder whose sequence rules are the venues' (src/venues/registry.ts). */
export function bookBuilder(opts: Omit<BookBuilderOptions, 'rules'>): BookBuilder {
  return new BookBuilder({ ...opts, rules: sequenceRule });
}
