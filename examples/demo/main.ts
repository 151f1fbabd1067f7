/**
 * `npm run demo [-- --keep]`: runs the demo and exits 0 when every step turned out as it
 * should, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';

const USAGE = `usage: npm run demo [-- --keep]

A server and six agents in three regions on this machine: deploy, upgrade, automatic rollback, a job on every host.

  --keep   stay up afterwards and print the URLs and the token to use (Ctrl-C to stop)
`;

let keep = false;
try {
  const { values } = parseArgs({
    options: { keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  keep = values.keep ?? false;
} catch (e) {
  process.stderr.write(`error: ${(e as Error).message}\n\n${USAGE}`);
  process.exit(1);
}

if (!(await runDemo({ keep }))) process.exitCode = 1;
