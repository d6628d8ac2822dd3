/**
 * flowcast command-line entry: `flowcast <command> [flags]`. Commands are discovered from
 * ./commands/*.ts. Errors from bad input print one line naming the file and line and exit 1;
 * usage errors print the usage and exit 2.
 */
import { readdirSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { UsageError, type Command } from './command.ts';
import { InputError } from '../core/errors.ts';
import { BackendUnavailable } from '../compute/backend.ts';
import { setLogLevel } from '../core/log.ts';

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');

async function loadCommands(): Promise<Map<string, Command>> {
  const files = readdirSync(commandsDir).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort();
  const map = new Map<string, Command>();
  for (const f of files) {
    const mod = (await import(join(commandsDir, f))) as { default: Command };
    map.set(mod.default.name, mod.default);
  }
  return map;
}

function globalHelp(cmds: Map<string, Command>): string {
  const width = Math.max(...[...cmds.keys()].map((k) => k.length));
  const lines = [...cmds.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'flowcast: limit-order-book features, models and a real-time feed',
    '',
    'usage: flowcast <command> [flags]     flowcast <command> --help for its flags',
    '',
    'commands:',
    ...lines,
    '',
    'environment: FLOWCAST_LOG=debug|info|warn|error (default warn; logs are JSON lines on stderr)',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const cmds = await loadCommands();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(globalHelp(cmds) + '\n');
    return 0;
  }
  if (name === '--version') {
    const { createRequire } = await import('node:module');
    process.stdout.write(createRequire(import.meta.url)('../../package.json').version + '\n');
    return 0;
  }
  const cmd = cmds.get(name);
  if (!cmd) {
    process.stderr.write(`flowcast: unknown command "${name}"\n\n${globalHelp(cmds)}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.usage.trimEnd() + '\n');
    return 0;
  }
  const verbose = rest.indexOf('--verbose');
  if (verbose >= 0) {
    setLogLevel('info');
    rest.splice(verbose, 1);
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`flowcast ${name}: ${e.message}\n\n${cmd.usage.trimEnd()}\n`);
      return 2;
    }
    if (e instanceof InputError) {
      process.stderr.write(`flowcast ${name}: error: ${e.message}\n`);
      return 1;
    }
    // The flag was well-formed; this machine lacks the backend: its usage would only hide the reason.
    if (e instanceof BackendUnavailable) {
      process.stderr.write(`flowcast ${name}: compute backend ${e.backend} is not available: ${e.reason}\n`);
      return 1;
    }
    throw e;
  }
}

/** Runs the CLI on process.argv and sets the exit code (bin/flowcast.js and `tsx src/cli/index.ts`). */
export function runFromProcess(): Promise<void> {
  return main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`flowcast: internal error: ${(e as Error).stack ?? e}\n`); process.exitCode = 70; },
  );
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await runFromProcess();
