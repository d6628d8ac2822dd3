/**
 * flowcast command-line entry: `flowcast <command> [flags]`. Commands are discovered from
 * ./commands/<name>.ts (compiled: .js); a run imports only the file of the command it names, so
 * its start-up does not pay for the others' imports (`--help` and an unknown name load them all,
 * for the list). Errors from bad input print one line naming the file and line and exit 1;
 * usage errors print the usage and exit 2.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, extname, join } from 'node:path';
import { UsageError, type Command } from './command.ts';
import { InputError } from '../core/errors.ts';
import { BackendUnavailable } from '../compute/backend.ts';
import { setLogLevel } from '../core/log.ts';

const here = fileURLToPath(import.meta.url);
const commandsDir = join(dirname(here), 'commands');
/** .ts from the source tree, .js from the compiled one (dist/ holds both: the .js are what runs). */
const ext = extname(here);

async function loadCommand(file: string): Promise<Command> {
  return ((await import(pathToFileURL(join(commandsDir, file)).href)) as { default: Command }).default;
}

/** The command a file name gives (commands/<name>.ts default-exports the command `name`), or undefined. */
async function findCommand(name: string): Promise<Command | undefined> {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) return undefined;
  const file = `${name}${ext}`;
  if (!existsSync(join(commandsDir, file))) return undefined;
  const cmd = await loadCommand(file);
  return cmd.name === name ? cmd : undefined;
}

async function loadCommands(): Promise<Map<string, Command>> {
  const files = readdirSync(commandsDir).filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts')).sort();
  const map = new Map<string, Command>();
  for (const f of files) {
    const cmd = await loadCommand(f);
    map.set(cmd.name, cmd);
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
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(globalHelp(await loadCommands()) + '\n');
    return 0;
  }
  if (name === '--version') {
    const { createRequire } = await import('node:module');
    process.stdout.write(createRequire(import.meta.url)('../../package.json').version + '\n');
    return 0;
  }
  let cmd = await findCommand(name);
  if (!cmd) {
    const all = await loadCommands();
    cmd = all.get(name);
    if (!cmd) {
      process.stderr.write(`flowcast: unknown command "${name}"\n\n${globalHelp(all)}\n`);
      return 2;
    }
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
