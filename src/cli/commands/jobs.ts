/**
 * Jobs: `slipway run [--image REF | --service S [--release N]] [--script FILE] [targets] --
 * ARGV...` runs a command in a sandbox on one host (`--any`, the default) or every matching host
 * (`--each`), streams its output and exits with its exit code; `slipway jobs` lists them, with
 * `show`, `logs [--follow]` and `cancel`.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration, parseLabelSelector, parseSize, SlipwayError } from '../../core/index.js';
import type { CreateJobRequest, Job, SlipwayClient } from '../../api/index.js';
import { buildImage } from '../build.js';
import { repeatable, type CliContext } from '../context.js';
import { exitCodeOf, followJob, formatDuration, runsTable, runTime } from '../job-follow.js';
import { shortId, table } from '../output.js';

/** The service an uploaded script's one-file image is filed under, unless the job names one. */
const SCRIPTS_SERVICE = 'scripts';

interface RunOptions {
  image?: string;
  service?: string;
  release?: number;
  script?: string;
  interpreter?: string;
  host: string[];
  hosts?: Record<string, string>;
  region: string[];
  each?: boolean;
  any?: boolean;
  timeout: number;
  env: string[];
  network?: boolean;
  memory?: number;
  cpus?: number;
  processes?: number;
  outputLimit?: number;
  detach?: boolean;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('run')
    .description('run a command or script in a sandbox on one host (--any) or each matching host')
    .argument('[argv...]', 'the command and its arguments (after --), or the script’s arguments')
    .option('--image <ref>', 'the job’s files: an image id, or SERVICE:TAG')
    .option('--service <name>', 'the job’s files: this service’s latest release (or --release)')
    .option('--release <n>', 'with --service: this release (e.g. 3 or v3)', release)
    .option('--script <file>', 'upload this script and run it (mounted at /script/<name>)')
    .option('--interpreter <cmd>', 'run the script with this (default: its #! line, else sh)')
    .option('--host <name>', 'on this host (repeatable)', repeatable, [])
    .option('--hosts <selector>', 'on hosts with these labels, e.g. tier=web,zone=a', selector)
    .option('--region <name>', 'on hosts of this region (repeatable)', repeatable, [])
    .option('--each', 'on every matching host')
    .option('--any', 'on one matching host, the least busy (the default)')
    .option('--timeout <duration>', 'kill it after this long (default 10m)', duration, 600_000)
    .option('--env <K=V>', 'an environment variable (repeatable)', repeatable, [])
    .option('--network', 'let it reach the network (default: loopback only)')
    .option('--memory <size>', 'memory limit, e.g. 512M', size)
    .option('--cpus <n>', 'CPU limit in cores', positive)
    .option('--processes <n>', 'processes it may have at once (default 256)', positive)
    .option('--output-limit <size>', 'output kept per host (the tail beyond; default 1MiB)', size)
    .option('--detach', 'print the job id and return; follow with `slipway jobs logs --follow`')
    .option('--json', 'print the job as JSON when it ends (and lines as JSON)')
    .action(async (argv: string[], o: RunOptions, cmd: Command) => {
      const c = ctx.client(cmd);
      const progress = ctx.out.progressUnless(o.json);
      if (o.each && o.any) throw new InvalidArgumentError('give --each or --any, not both');
      const script = o.script ? await uploadScript(c, o, progress) : null;
      const body: CreateJobRequest = {
        image: o.image ?? null,
        service: o.service ?? null,
        release: o.release ?? null,
        script: script?.ref ?? null,
        argv: script ? [...script.interpreter, `/script/${script.ref.name}`, ...argv] : argv,
        env: envOf(o.env),
        network: o.network ?? false,
        limits: {
          timeoutMs: o.timeout,
          memoryBytes: o.memory ?? null,
          cpus: o.cpus ?? null,
          processes: o.processes ?? 256,
        },
        targets: { hosts: o.host, regions: o.region, labels: o.hosts ?? {} },
        placement: o.each ? 'each' : 'any',
        outputLimitBytes: o.outputLimit ?? 1024 * 1024,
      };
      const job = await c.createJob(body);
      progress(
        `job ${shortId(job.id)} on ${job.runs.length} host(s): ${job.runs.map((r) => r.host).join(', ')}`,
      );
      for (const s of job.skipped) progress(`  not on ${s}`);
      if (o.detach) {
        ctx.out.line(job.id);
        return;
      }
      const ended = await followJob(c, ctx.out, job.id, { follow: true, json: o.json });
      if (o.json) ctx.out.json(ended);
      else if (ended.runs.length > 1 || ended.state !== 'succeeded')
        progress(`\n${runsTable(ended)}`);
      const code = exitCodeOf(ended);
      if (code !== 0) ctx.fail(code);
    });

  const jobs = program
    .command('jobs')
    .description('jobs run with `slipway run`, newest first (with a verb: show, logs, cancel)')
    .option('--limit <n>', 'at most this many', positive, 50)
    .option('--json', 'print JSON')
    .action(async (o: { limit: number; json?: boolean }, cmd: Command) => {
      const list = await ctx.client(cmd).listJobs(o.limit);
      ctx.out.result(list, o.json, jobsTable);
    });
  jobs
    .command('show')
    .description('one job and its run on each host')
    .argument('<id>', 'job id or a unique prefix')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const job = await ctx.client(cmd).getJob(id);
      ctx.out.result(job, o.json || cmd.optsWithGlobals<{ json?: boolean }>().json, describe);
    });
  jobs
    .command('logs')
    .description('a job’s output (kept per host up to its output limit)')
    .argument('<id>', 'job id or a unique prefix')
    .option('--host <name>', 'only this host’s')
    .option('-f, --follow', 'keep printing until the job ends')
    .option('--json', 'one JSON object per line')
    .action(async (id: string, o: { host?: string; follow?: boolean; json?: boolean }, cmd) => {
      await followJob(ctx.client(cmd as Command), ctx.out, id, {
        host: o.host,
        follow: o.follow ?? false,
        json: o.json,
      });
    });
  jobs
    .command('cancel')
    .description('stop a job on every host that runs it (its whole process tree)')
    .argument('<id>', 'job id or a unique prefix')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const job = await ctx.client(cmd).cancelJob(id);
      ctx.out.result(job, o.json, (j) => `job ${shortId(j.id)}: cancel asked (${j.state})`);
    });
}

/** The script as a one-file image, and how to run it. */
async function uploadScript(
  c: SlipwayClient,
  o: RunOptions,
  progress: (line: string) => void,
): Promise<{ ref: { imageId: string; name: string }; interpreter: string[] }> {
  const path = o.script!;
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new SlipwayError('INVALID', `cannot read the script ${path}: ${e.code ?? e.message}`);
  });
  const name = basename(path);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new SlipwayError(
      'INVALID',
      `script name ${JSON.stringify(name)}: use letters, digits, dots, dashes, underscores`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'slipway-script-'));
  try {
    await copyFile(path, join(dir, name));
    const service = o.service ?? serviceOfImage(o.image) ?? SCRIPTS_SERVICE;
    const built = await buildImage(c, dir, service, [], progress);
    return { ref: { imageId: built.imageId, name }, interpreter: interpreterOf(text, o) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `--interpreter`, else the script's `#!` line (`#!/usr/bin/env python3`), else `sh`. */
function interpreterOf(text: string, o: RunOptions): string[] {
  if (o.interpreter) return o.interpreter.split(/\s+/).filter(Boolean);
  const shebang = /^#!\s*(\S.*)$/m.exec(text.split('\n', 1)[0] ?? '');
  return shebang ? shebang[1]!.trim().split(/\s+/) : ['sh'];
}

function serviceOfImage(ref: string | undefined): string | undefined {
  return ref?.includes(':') ? ref.split(':')[0] : undefined;
}

function envOf(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`--env ${JSON.stringify(p)}: expected NAME=value`);
    env[p.slice(0, i)] = p.slice(i + 1);
  }
  return env;
}

function jobsTable(list: Job[]): string {
  return table(
    ['ID', 'STATE', 'HOSTS', 'EXIT', 'TIME', 'COMMAND', 'CREATED'],
    list.map((j) => [
      shortId(j.id),
      j.state,
      `${j.runs.filter((r) => r.state === 'succeeded').length}/${j.runs.length} ok`,
      j.state === 'running' ? null : exitCodeOf(j),
      longestRun(j),
      commandOf(j),
      j.createdAt.replace('T', ' ').slice(0, 19),
    ]),
  );
}

/** How long the job took: its longest run. */
function longestRun(j: Job): string | null {
  const times = j.runs.flatMap((r) => (r.startedAt ? [runTime(r.startedAt, r.endedAt)] : []));
  return times.length > 0 ? formatDuration(Math.max(...times)) : null;
}

function commandOf(j: Job): string {
  const text = j.argv.join(' ');
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function describe(j: Job): string {
  return [
    `job ${j.id} (${j.state}), by ${j.createdBy} at ${j.createdAt}`,
    `  command: ${j.argv.join(' ')}`,
    `  files:   ${j.imageId ? j.imageId.slice(0, 12) : 'the host’s system only'}${j.script ? `, script ${j.script}` : ''}`,
    `  network: ${j.network ? 'yes' : 'loopback only'}; timeout ${Math.round(j.limits.timeoutMs / 1000)}s`,
    ...j.skipped.map((s) => `  not on ${s}`),
    '',
    runsTable(j),
  ].join('\n');
}

function release(value: string): number {
  const n = Number(value.replace(/^v/, ''));
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a release such as 3 or v3, not ${value}`);
  return n;
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 1000)
    throw new InvalidArgumentError(`expected a duration such as 30s or 10m, not ${value}`);
  return ms;
}

function size(value: string): number {
  try {
    return parseSize(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function selector(value: string): Record<string, string> {
  try {
    return parseLabelSelector(value, '--hosts');
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError(`expected a positive number, not ${value}`);
  return n;
}
