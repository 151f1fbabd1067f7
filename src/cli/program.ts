/** The `slipway` command line: every verb, its options and its output. */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import {
  SlipwayError,
  ValidationError,
  formatProblem,
  isSlipwayError,
  parseDuration,
  parseHostPort,
  parseRate,
} from '../core/index.js';
import type { DeploymentView, SlipwayClient } from '../api/index.js';
import { buildImage } from './build.js';
import { clientFrom, type GlobalOptions } from './context.js';
import { formatBytes, printJson, shortId, table } from './output.js';
import { locateProblems, readServiceMapFile } from './service-map-file.js';
import { describeDeployment, watchDeployment } from './watch.js';

/** What `main` provides: the long-running processes, which the CLI does not build itself. */
export interface ProcessCommands {
  server(opts: { dataDir: string; listen: string; databaseUrl?: string }): Promise<void>;
  agent(opts: {
    server: string;
    joinToken?: string;
    name: string;
    region: string;
    labels: Record<string, string>;
    dataDir: string;
    /** Where to serve chunks to the region's other agents. */
    peerListen: { host: string; port: number };
    /** The URL peers reach this agent at, when the listen address is not it. */
    peerUrl?: string;
    relay: boolean;
    /** Bytes per second, each way, for deploy traffic (null: no cap). */
    maxBandwidth: number | null;
  }): Promise<void>;
}

const out = (line: string) => process.stdout.write(line + '\n');
const err = (line: string) => process.stderr.write(line + '\n');

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseLabels(pairs: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const p of pairs) {
    const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(p);
    if (!m) throw new SlipwayError('INVALID', `--label ${JSON.stringify(p)}: expected key=value`);
    labels[m[1]!] = m[2]!;
  }
  return labels;
}

export function buildProgram(processes: ProcessCommands): Command {
  const program = new Command('slipway')
    .description(
      'Puts immutable release images onto fleets of servers, fast, and keeps them there safely.',
    )
    .addOption(new Option('--server <url>', 'control plane URL').env('SLIPWAY_SERVER'))
    .addOption(new Option('--token <token>', 'API token').env('SLIPWAY_TOKEN'))
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const g = (cmd: Command): GlobalOptions => cmd.optsWithGlobals();
  const client = (cmd: Command): SlipwayClient => clientFrom(g(cmd));

  program
    .command('server')
    .description('run the control plane (API, event streams, orchestrator, origin store)')
    .option('--data-dir <dir>', 'where the server keeps its state', '.slipway/server')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:7400')
    .addOption(
      new Option('--database-url <url>', 'use this PostgreSQL instead of the embedded one').env(
        'SLIPWAY_DATABASE_URL',
      ),
    )
    .action((o: { dataDir: string; listen: string; databaseUrl?: string }) =>
      processes.server({ ...o, dataDir: resolve(o.dataDir) }),
    );

  program
    .command('agent')
    .description('run the host agent')
    .requiredOption('--name <name>', 'this host’s name')
    .requiredOption('--region <region>', 'this host’s region')
    .option(
      '--join-token <token>',
      'the server’s join token (needed on first start only)',
      process.env.SLIPWAY_JOIN_TOKEN,
    )
    .option('--label <key=value>', 'a label of this host (repeatable)', collect, [])
    .option('--data-dir <dir>', 'where the agent keeps images and releases', '.slipway/agent')
    .option(
      '--peer-listen <host:port>',
      'where to serve chunks to agents of this region (port 0: any free port)',
      '0.0.0.0:7401',
    )
    .option(
      '--peer-url <url>',
      'the URL peers reach this agent at (default: the listen address, or the address this host reaches the server from)',
    )
    .option(
      '--relay',
      'be this region’s relay: fetch from the origin what no peer holds yet',
      false,
    )
    .option(
      '--max-bandwidth <rate>',
      'cap deploy traffic each way, e.g. 100mbit or 50MiB/s (default: no cap)',
    )
    .action(
      (
        o: {
          name: string;
          region: string;
          joinToken?: string;
          label: string[];
          dataDir: string;
          peerListen: string;
          peerUrl?: string;
          relay: boolean;
          maxBandwidth?: string;
        },
        cmd: Command,
      ) =>
        processes.agent({
          server: g(cmd).server ?? 'http://127.0.0.1:7400',
          joinToken: o.joinToken,
          name: o.name,
          region: o.region,
          labels: parseLabels(o.label),
          dataDir: resolve(o.dataDir),
          peerListen: parseHostPort(o.peerListen, '--peer-listen'),
          peerUrl: o.peerUrl,
          relay: o.relay,
          maxBandwidth:
            o.maxBandwidth === undefined ? null : parseRate(o.maxBandwidth, '--max-bandwidth'),
        }),
    );

  program
    .command('build')
    .description('chunk a directory into an image and upload what the server lacks')
    .argument('<dir>', 'the directory to build the image from')
    .requiredOption('--service <name>', 'the service the image is for')
    .option('--tag <tag>', 'tag the image (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .action(
      async (dir: string, o: { service: string; tag: string[]; json?: boolean }, cmd: Command) => {
        const res = await buildImage(
          client(cmd),
          resolve(dir),
          o.service,
          o.tag,
          o.json ? () => {} : err,
        );
        if (o.json) return printJson(res);
        err(
          `image for ${o.service}: ${res.files} files, ${formatBytes(res.bytes)}; uploaded ${res.uploadedChunks} of ${res.chunks} chunks (${formatBytes(res.uploadedBytes)})${res.tags.length ? `; tags ${res.tags.join(', ')}` : ''}`,
        );
        out(res.imageId);
      },
    );

  program
    .command('apply')
    .description('validate and apply the service map; nothing changes when any problem is found')
    .requiredOption('-f, --file <file>', 'the service map (YAML)')
    .option('--json', 'print JSON')
    .action(async (o: { file: string; json?: boolean }, cmd: Command) => {
      const { doc, text } = await readServiceMapFile(o.file);
      try {
        const rec = await client(cmd).applyServiceMap(doc);
        if (o.json) return printJson(rec);
        out(
          `applied service map v${rec.version}: ${Object.keys(rec.map.services).length} service(s), ${Object.keys(rec.map.environments).length} environment(s)`,
        );
      } catch (e) {
        if (isSlipwayError(e, 'INVALID') && Array.isArray(e.details.problems)) {
          const problems = locateProblems(text, o.file, e.details.problems as never);
          throw new ValidationError(
            `${o.file} has ${problems.length} problem(s); nothing was applied`,
            problems,
          );
        }
        throw e;
      }
    });

  const deployLike = (kind: 'deploy' | 'stage') =>
    program
      .command(kind)
      .description(
        kind === 'deploy'
          ? 'stage a new release on every host, then activate it in batches'
          : 'only pre-position a release on every host (no activation)',
      )
      .argument('<service>', 'the service')
      .requiredOption('--image <id|tag>', 'image id (or unique prefix) or tag')
      .option('--env <environment>', 'target environment')
      .option('--wait', 'follow progress; exit non-zero unless it succeeds')
      .option('--json', 'print JSON')
      .action(
        async (
          service: string,
          o: { image: string; env?: string; wait?: boolean; json?: boolean },
          cmd: Command,
        ) => {
          const c = client(cmd);
          const d = await c.createDeployment({ service, kind, image: o.image, environment: o.env });
          await report(c, d, o);
        },
      );
  deployLike('deploy');
  deployLike('stage');

  program
    .command('rollback')
    .description('re-activate an older release (its image is still on the hosts)')
    .argument('<service>', 'the service')
    .option('--to <version>', 'release to return to, e.g. v3 (default: the one before the current)')
    .option('--env <environment>', 'target environment')
    .option('--wait', 'follow progress; exit non-zero unless it succeeds')
    .option('--json', 'print JSON')
    .action(
      async (
        service: string,
        o: { to?: string; env?: string; wait?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const c = client(cmd);
        const toVersion = o.to === undefined ? undefined : parseVersion(o.to);
        const d = await c.createDeployment({
          service,
          kind: 'rollback',
          toVersion,
          environment: o.env,
        });
        await report(c, d, o);
      },
    );

  program
    .command('cancel')
    .description('cancel a running deployment; activated hosts go back to their previous release')
    .argument('<deployment>', 'deployment id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const d = await client(cmd).cancelDeployment(id);
      out(`${d.id}: ${d.state}${d.reason ? ` (${d.reason})` : ''}`);
    });

  program
    .command('status')
    .description('what runs where, or one deployment')
    .argument('[deployment]', 'deployment id')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, o: { json?: boolean }, cmd: Command) => {
      const c = client(cmd);
      if (id) {
        const d = await c.getDeployment(id);
        if (o.json) return printJson(d);
        out(`${describeDeployment(d)}\nstate: ${d.state}${d.reason ? ` (${d.reason})` : ''}`);
        out(
          table(
            ['HOST', 'REGION', 'BATCH', 'STATE', 'DETAIL'],
            d.hosts.map((h) => [h.hostName, h.region, h.batch + 1, h.state, h.detail]),
          ),
        );
        return;
      }
      const rows = await c.status();
      if (o.json) return printJson(rows);
      out(statusTable(rows));
      const recent = await c.listDeployments(undefined, 5);
      if (recent.length > 0) {
        out('\nrecent deployments:');
        out(
          table(
            ['ID', 'SERVICE', 'KIND', 'RELEASE', 'ENV', 'STATE', 'CREATED'],
            recent.map((d) => [
              shortId(d.id),
              d.service,
              d.kind,
              `v${d.release}`,
              d.environment,
              d.state,
              d.createdAt,
            ]),
          ),
        );
      }
    });

  program
    .command('gc')
    .description('delete origin chunks that no image references')
    .option('--grace <duration>', 'spare chunks younger than this (default: the server’s, 1h)')
    .option('--json', 'print JSON')
    .action(async (o: { grace?: string; json?: boolean }, cmd: Command) => {
      let graceSeconds: number | undefined;
      if (o.grace !== undefined) {
        const ms = parseDuration(o.grace);
        if (ms === undefined) {
          throw new SlipwayError(
            'INVALID',
            `--grace ${JSON.stringify(o.grace)}: not a duration (e.g. 30m, 1h)`,
          );
        }
        graceSeconds = Math.round(ms / 1000);
      }
      const r = await client(cmd).collectGarbage(graceSeconds);
      if (o.json) return printJson(r);
      out(
        `removed ${r.removed} chunk(s), freed ${formatBytes(r.bytesFreed)}; ${r.referenced} chunk(s) referenced by images`,
      );
    });

  program
    .command('hosts')
    .description('registered hosts')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const hosts = await client(cmd).listHosts();
      if (o.json) return printJson(hosts);
      out(
        table(
          ['HOST', 'REGION', 'LABELS', 'ONLINE', 'RECEIVED (ORIGIN/RELAY/PEER)', 'SERVICES'],
          hosts.map((h) => [
            h.name + (h.relay ? ' (relay)' : ''),
            h.region,
            Object.entries(h.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(',') || '-',
            h.online ? 'yes' : 'no',
            ['origin', 'relay', 'peer']
              .map((k) => formatBytes(h.bytesReceived[k] ?? 0))
              .join(' / '),
            h.services
              .map(
                (s) => `${s.service}${s.active ? `@v${s.active.version}(${s.active.state})` : ''}`,
              )
              .join(' ') || '-',
          ]),
        ),
      );
    });

  program
    .command('releases')
    .description('releases of a service')
    .argument('<service>', 'the service')
    .option('--json', 'print JSON')
    .action(async (service: string, o: { json?: boolean }, cmd: Command) => {
      const rels = await client(cmd).listReleases(service);
      if (o.json) return printJson(rels);
      out(
        table(
          ['RELEASE', 'IMAGE', 'ENV', 'CREATED'],
          rels.map((r) => [`v${r.version}`, shortId(r.imageId), r.environment, r.createdAt]),
        ),
      );
    });

  return program;
}

function parseVersion(s: string): number {
  const m = /^v?(\d+)$/.exec(s);
  if (!m)
    throw new SlipwayError('INVALID', `--to ${JSON.stringify(s)}: expected a release like v3`);
  return Number(m[1]);
}

async function report(
  c: SlipwayClient,
  d: DeploymentView,
  o: { wait?: boolean; json?: boolean },
): Promise<void> {
  if (!o.wait) {
    if (o.json) return printJson(d);
    out(`${describeDeployment(d)}\ndeployment ${d.id}`);
    return;
  }
  if (!o.json) err(describeDeployment(d));
  const final = await watchDeployment(c, d, o.json ? () => {} : err);
  if (o.json) printJson(final);
  if (final.state !== 'succeeded') process.exitCode = 1;
}

/** Hosts × services with the active release and its state. */
export function statusTable(
  rows: {
    host: string;
    region: string;
    service: string;
    active: number | null;
    state: string;
    online: boolean;
  }[],
): string {
  return table(
    ['HOST', 'REGION', 'SERVICE', 'RELEASE', 'STATE'],
    rows.map((r) => [
      r.host,
      r.region,
      r.service,
      r.active === null ? '-' : `v${r.active}`,
      r.online ? r.state : `${r.state} (offline)`,
    ]),
  );
}

/** Runs the CLI; errors are printed as what went wrong, with every problem, and exit non-zero. */
export async function runCli(argv: string[], processes: ProcessCommands): Promise<void> {
  try {
    await buildProgram(processes).parseAsync(argv);
  } catch (e) {
    if (e instanceof ValidationError) {
      err(`error: ${e.message.split('\n')[0]}`);
      for (const p of e.problems) err(formatProblem(p));
    } else if (isSlipwayError(e)) {
      err(`error: ${e.message}`);
    } else {
      err(`error: ${(e as Error).stack ?? String(e)}`);
    }
    process.exitCode = isSlipwayError(e, 'UNAVAILABLE') ? 3 : 1;
  }
}
