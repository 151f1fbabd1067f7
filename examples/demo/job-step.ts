/**
 * The demo's job: `examples/jobs/quote-check.py` on every host, in the image `examples/jobs/image`
 * (a Python package vendored in, no network at run time), run with the CLI's own `slipway run`
 * as a user would, its output streamed back by host. A machine that cannot sandbox jobs (no
 * bubblewrap, not root) says so and the demo goes on: the rest of it needs neither.
 */
import { join } from 'node:path';
import type { ProcessCommands } from '../../src/cli/index.js';
import { buildImage, runCli } from '../../src/cli/index.js';
import type { SlipwayClient } from '../../src/api/index.js';

export interface JobStepResult {
  /** Every host ran it and it passed. */
  ok: boolean;
  /** Why no host could run it, when that is what happened (not a failure of the demo). */
  unsupported: string | null;
}

export async function runJobStep(
  c: SlipwayClient,
  url: string,
  token: string,
  examples: string,
  say: (line: string) => void,
): Promise<JobStepResult> {
  const image = await buildImage(c, join(examples, 'jobs', 'image'), 'tools', ['fx'], () => {});
  say(
    `    built tools fx: image ${image.imageId.slice(0, 12)} (fxcalc vendored under site-packages/)`,
  );
  const argv = ['run', '--image', 'tools:fx', '--script', join(examples, 'jobs', 'quote-check.py')];
  argv.push('--each', '--env', 'PYTHONPATH=/job/site-packages', '--', 'EURUSD', 'USDJPY');
  say(`    $ slipway ${argv.join(' ').replace(examples + '/', 'examples/')}`);
  const indent = (text: string) => text.replace(/^(?=.)/gm, '    ');
  const code = await runCli(
    ['node', 'slipway', '--server', url, '--token', token, ...argv],
    {} as ProcessCommands,
    {
      stdout: { write: (x: string) => process.stdout.write(indent(x)) },
      stderr: { write: (x: string) => process.stdout.write(indent(x)) },
    },
  );
  const [job] = await c.listJobs(1);
  const refused = job?.runs.filter((r) => r.state === 'refused') ?? [];
  if (job && refused.length === job.runs.length) {
    return { ok: false, unsupported: refused[0]!.detail ?? 'refused' };
  }
  return { ok: code === 0, unsupported: null };
}
