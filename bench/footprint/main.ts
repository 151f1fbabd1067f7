/**
 * Footprint benchmark: the resident memory of `slipway server` (embedded store idle, then with
 * N simulated agents long-polling and many images and releases in its store; on PostgreSQL
 * idle), of one real `slipway agent` idle and while staging, that agent's idle CPU and CPU per
 * GiB staged, and (bench:fleet) the agents' CPU per GiB received against aria2's. Each figure
 * is printed beside its target. See USAGE in args.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlipwayClient } from '../../src/api/index.js';
import { ensureDescriptors } from '../fanout/limits.js';
import { killServersNow, startServers, type Servers } from '../fanout/servers.js';
import { Teardown } from '../fleet/cleanup.js';
import { killAgentNow, measureAgent, stopAgents } from './agent-phase.js';
import { UsageError } from '../fanout/args.js';
import { parseOptions, USAGE, type Options } from './args.js';
import { measureFleet, signalFleetNow, stopFleet } from './fleet-phase.js';
import { emptyNotes, emptyResult, rounded, tableLines, type Notes, type Result } from './report.js';
import { checkServer, measureAtScale, measureIdle } from './server-phase.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Set once SIGINT or SIGTERM arrived: nothing more starts. */
let stopping = false;
const teardown = new Teardown();

/** Starts one server in `dir` and has the teardown stop it. */
async function startServer(dir: string, databaseUrl: string | null): Promise<Servers> {
  const servers = await startServers(dir, 1, databaseUrl);
  teardown.add(`server ${servers.urls[0]}`, () => servers.stop());
  return servers;
}

/** Runs `step`; a failure is logged and noted as the reason its rows are missing. */
async function phase(
  name: string,
  keys: string[],
  notes: Notes,
  failures: string[],
  step: () => Promise<void>,
): Promise<void> {
  if (stopping) return;
  try {
    await step();
  } catch (e) {
    if (stopping) return;
    const message = (e as Error).message;
    log(`${name} failed: ${message}`);
    failures.push(name);
    for (const k of keys) notes.skipped.set(k, `${name} failed (see stderr)`);
  }
}

async function run(o: Options, workDir: string, result: Result, notes: Notes): Promise<string[]> {
  const failures: string[] = [];
  const embeddedDir = join(workDir, 'embedded');
  log(`starting slipway server (embedded store) in ${embeddedDir}`);
  const servers = await startServer(embeddedDir, null);
  // Stopped before the server (the teardown runs its steps last added first).
  teardown.add('agent', stopAgents);
  try {
    const admin = new SlipwayClient({ server: servers.urls[0]!, token: servers.adminToken });
    await phase('server idle', [], notes, failures, async () => {
      const m = await measureIdle(servers, 'embedded server idle', log);
      result.server_idle_rss_mb = m.rssMb;
      result.server_idle_peak_mb = m.hwmMb;
    });
    await phase('server at scale', ['server'], notes, failures, async () => {
      const s = await measureAtScale(servers, admin, o, log);
      result.server_1000_rss_mb = s.memory.rssMb;
      result.server_1000_peak_mb = s.memory.hwmMb;
      result.images = s.images;
      result.releases = s.releases;
      notes.unsuccessfulReleases = s.unsuccessful;
    });
    await phase('agent', ['agent'], notes, failures, async () => {
      const server = {
        url: servers.urls[0]!,
        joinTokenFile: join(embeddedDir, 'server', 'join.token'),
        admin,
        check: () => checkServer(servers),
      };
      const a = await measureAgent(server, workDir, o.stageSize, log);
      result.agent_idle_rss_mb = a.idle.rssMb;
      result.agent_idle_cpu_percent = a.idleCpuPercent;
      result.agent_staging_peak_rss_mb = a.stagingPeakMb;
      result.agent_stage_cpu_s_per_gib = a.cpuSPerGiB;
      notes.agentStageHwmMb = a.stageHwmMb;
      notes.agentStageCpuS = a.stageCpuS;
      notes.stageBytes = a.stageBytes;
    });
  } finally {
    log('stopping the embedded server');
    await servers.stop();
  }

  if (!o.databaseUrl) notes.skipped.set('postgres', 'pass --database-url');
  else {
    await phase('postgres server idle', ['postgres'], notes, failures, async () => {
      const dir = join(workDir, 'postgres');
      log(`starting slipway server on PostgreSQL in ${dir}`);
      const pg = await startServer(dir, o.databaseUrl);
      try {
        const m = await measureIdle(pg, 'PostgreSQL server idle', log);
        result.postgres_server_idle_rss_mb = m.rssMb;
        notes.postgresPeakMb = m.hwmMb;
      } finally {
        await pg.stop();
      }
    });
  }

  if (o.skipFleet) notes.skipped.set('fleet', '--skip-fleet');
  else {
    await phase('fleet', ['fleet'], notes, failures, async () => {
      const f = await measureFleet(o.fleetArgs, () => stopping, log);
      result.fleet = f.figures;
      for (const line of f.failures) log(`fleet: method failed: ${line}`);
      if (f.failures.length > 0) failures.push('fleet (some methods)');
    });
  }
  return failures;
}

async function main(): Promise<number> {
  let o: Options | null;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    log(`${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (!o) {
    log(USAGE);
    return 0;
  }
  // Each simulated agent holds sockets here: reruns itself under a higher limit if need be.
  const reran = await ensureDescriptors(o.agents);
  if (reran !== null) return reran;

  const workDir = await mkdtemp(join(tmpdir(), 'slipway-footprint-'));
  teardown.add('work directory', async () => {
    if (o.keep) log(`kept ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  });
  teardown.add('fleet harness', stopFleet);
  // Whatever happens, no process of this run outlives it.
  process.on('exit', () => {
    killServersNow();
    killAgentNow();
    signalFleetNow();
  });
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(code); // a second signal: the exit handler kills
      stopping = true;
      log(`${signal}: stopping`);
      void teardown.run(log).finally(() => process.exit(code));
    });
  }

  const started = performance.now();
  const result = emptyResult(o.agents);
  const notes = emptyNotes();
  let code = 0;
  try {
    const failures = await run(o, workDir, result, notes);
    if (failures.length > 0) code = 1;
  } catch (e) {
    log(`benchmark stopped: ${(e as Error).message}`);
    code = 1;
  } finally {
    await teardown.run(log);
  }
  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  for (const line of tableLines(result, notes)) console.log(line);
  if (o.json) console.log(JSON.stringify(rounded(result)));
  return code;
}

process.exit(await main());
