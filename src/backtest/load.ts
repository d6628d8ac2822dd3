/**
 * Which strategy `--strategy` names: a bundled one by name (src/backtest/strategies/index.ts) or an
 * ES module file whose default export is a StrategyFactory; and its `--param k=v` values.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Strategy, StrategyFactory } from './strategy.ts';

export type StrategyParams = Record<string, string | number | boolean>;

/** `k=v` pairs; numbers and true/false become numbers and booleans, the rest stays text. */
export function parseParams(pairs: readonly string[]): StrategyParams {
  const out: StrategyParams = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new RangeError(`--param ${p}: expected k=v`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    out[k] = v === 'true' ? true : v === 'false' ? false : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

export async function loadStrategy(spec: string, params: StrategyParams): Promise<Strategy> {
  let factory: StrategyFactory | undefined;
  const looksLikeFile = /[/\\]|\.(m?[jt]s)$/.test(spec);
  if (!looksLikeFile) {
    const { builtinStrategies } = await import('./strategies/index.ts');
    factory = builtinStrategies[spec];
    if (!factory) throw new RangeError(`--strategy ${spec}: no bundled strategy of that name (bundled: ${Object.keys(builtinStrategies).join(', ')}; or a path to a module)`);
  } else {
    const path = resolve(spec);
    if (!existsSync(path)) throw new RangeError(`--strategy ${spec}: no such file`);
    // A TypeScript strategy under the compiled CLI: tsx's loader (a dependency) is registered for it.
    if (/\.m?ts$/.test(path) && !import.meta.url.endsWith('.ts')) {
      const { register } = await import('tsx/esm/api');
      register();
    }
    const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    if (typeof mod.default !== 'function') throw new RangeError(`--strategy ${spec}: the module's default export must be a StrategyFactory (params => Strategy), got ${typeof mod.default}`);
    factory = mod.default as StrategyFactory;
  }
  const s = factory(params);
  if (!s || typeof s !== 'object' || typeof s.name !== 'string') throw new RangeError(`--strategy ${spec}: the factory did not return a Strategy (an object with a name)`);
  return s;
}
