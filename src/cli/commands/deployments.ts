/**
 * Deployments: `deploy` and `stage` roll out a new release, `rollback` an older one, `cancel`
 * stops one, `approve` and `reject` decide one awaiting approval, `status` shows one or what runs where, `deployments` lists them. A deployment is
 * named by its id or a unique prefix of it (at least 4 characters), e.g. the short id tables show.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { SlipwayError, formatDuration } from '../../core/index.js';
import type { DeploymentView, SlipwayClient } from '../../api/index.js';
import type { CliContext } from '../context.js';
import { deploymentsTable } from '../deployment-table.js';
import { byRegion, table } from '../output.js';
import { describeDeployment, watchDeployment } from '../watch.js';
import { readingsText, wavesText } from '../waves-text.js';

/** How many deployments `slipway status` shows. */
const RECENT = 5;

interface FollowOptions {
  env?: string;
  wait?: boolean;
  json?: boolean;
}

/** Adds `deploy`, `stage`, `rollback`, `cancel`, `approve`, `reject`, `status` and `deployments`. */
export function register(program: Command, ctx: CliContext): void {
  for (const kind of ['deploy', 'stage'] as const) {
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
      .option(
        '--break-glass',
        'start outside the environment’s deploy windows or in a freeze (needs --reason)',
      )
      .option('--reason <text>', 'why the glass is broken: recorded with the deployment')
      .option(
        '--replace',
        'cancel the deployment of this service and environment under way (or queued) instead of queueing behind it',
      )
      .option('--dry-run', 'show what it would do and what would refuse it; change nothing')
      .option('--json', 'print JSON')
      .action(
        async (
          service: string,
          o: FollowOptions & GlassOptions & { image: string; dryRun?: boolean; replace?: boolean },
          cmd: Command,
        ) => {
          const c = ctx.client(cmd);
          const req = {
            service,
            kind,
            image: o.image,
            environment: o.env,
            breakGlass: breakGlass(o),
            ...(o.replace && { replace: true }),
          };
          if (o.dryRun) return plan(ctx, c, req, o.json);
          await report(ctx, c, await c.createDeployment(req), o);
        },
      );
  }

  program
    .command('plan')
    .description(
      'what `deploy` would do (hosts, batches, approvals) and what would refuse it; nothing moves',
    )
    .argument('<service>', 'the service')
    .requiredOption('--image <id|tag>', 'image id (or unique prefix) or tag')
    .option('--env <environment>', 'target environment')
    .option('--json', 'print JSON')
    .action(
      async (service: string, o: { image: string; env?: string; json?: boolean }, cmd: Command) =>
        plan(
          ctx,
          ctx.client(cmd),
          { service, kind: 'deploy', image: o.image, environment: o.env },
          o.json,
        ),
    );

  program
    .command('promote')
    .description(
      'deploy to one environment the image of the release that last succeeded in another',
    )
    .argument('<service>', 'the service')
    .requiredOption('--from <environment>', 'where the release succeeded, e.g. staging')
    .requiredOption('--to <environment>', 'where it goes, e.g. prod (with its own overrides)')
    .option('--wait', 'follow progress; exit non-zero unless it succeeds')
    .option(
      '--break-glass',
      'start outside the target’s deploy windows or in a freeze (needs --reason)',
    )
    .option('--reason <text>', 'why the glass is broken')
    .option('--json', 'print JSON')
    .action(
      async (
        service: string,
        o: FollowOptions & GlassOptions & { from: string; to: string },
        cmd: Command,
      ) => {
        const c = ctx.client(cmd);
        const d = await c.createDeployment({
          service,
          kind: 'deploy',
          environment: o.to,
          promoteFrom: o.from,
          breakGlass: breakGlass(o),
        });
        await report(ctx, c, d, o);
      },
    );

  program
    .command('rollback')
    .description('re-activate an older release (its image is still on the hosts)')
    .argument('<service>', 'the service')
    .option('--to <version>', 'release to return to, e.g. v3 (default: the one before the current)')
    .option('--env <environment>', 'target environment')
    .option('--wait', 'follow progress; exit non-zero unless it succeeds')
    .option('--json', 'print JSON')
    .action(async (service: string, o: FollowOptions & { to?: string }, cmd: Command) => {
      const c = ctx.client(cmd);
      const toVersion = o.to === undefined ? undefined : parseVersion(o.to);
      const d = await c.createDeployment({
        service,
        kind: 'rollback',
        toVersion,
        environment: o.env,
      });
      await report(ctx, c, d, o);
    });

  program
    .command('cancel')
    .description('cancel a running deployment; activated hosts go back to their previous release')
    .argument('<deployment>', 'deployment id (or a unique prefix of it)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const d = await ctx.client(cmd).cancelDeployment(id);
      ctx.out.line(`${d.id}: ${d.state}${d.reason ? ` (${d.reason})` : ''}`);
    });

  for (const verb of ['pause', 'resume'] as const) {
    program
      .command(verb)
      .description(
        verb === 'pause'
          ? 'stop a running deployment before its next batch (the batch under way finishes)'
          : 'let a paused deployment go on with its next batch',
      )
      .argument('<deployment>', 'deployment id (or a unique prefix of it)')
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const c = ctx.client(cmd);
        const d = await (verb === 'pause' ? c.pauseDeployment(id) : c.resumeDeployment(id));
        ctx.out.line(`${d.id}: ${d.state}${d.reason ? ` (${d.reason})` : ''}`);
      });
  }

  program
    .command('approve')
    .description('approve a deployment awaiting approval (one you did not ask for)')
    .argument('<deployment>', 'deployment id (or a unique prefix of it)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const d = await ctx.client(cmd).approveDeployment(id);
      ctx.out.line(`${d.id}: ${approvalText(d)}`);
    });

  program
    .command('reject')
    .description('reject a deployment awaiting approval; it ends without touching a host')
    .argument('<deployment>', 'deployment id (or a unique prefix of it)')
    .requiredOption('--reason <text>', 'why: recorded with the rejection')
    .action(async (id: string, o: { reason: string }, cmd: Command) => {
      const d = await ctx.client(cmd).rejectDeployment(id, o.reason);
      ctx.out.line(`${d.id}: ${d.state}${d.reason ? ` (${d.reason})` : ''}`);
    });

  program
    .command('status')
    .description('what runs where and the recent deployments, or one deployment')
    .argument('[deployment]', 'deployment id (or a unique prefix of it)')
    .option('--service <service>', 'only what runs of this service')
    .option('--region <region>', 'only the hosts of this region')
    .option('--json', 'print JSON: {"status": [host × service rows], "deployments": [recent]}')
    .action(
      async (
        id: string | undefined,
        o: { json?: boolean; service?: string; region?: string },
        cmd: Command,
      ) => {
        const c = ctx.client(cmd);
        if (id) {
          ctx.out.result(await c.getDeployment(id), o.json, deploymentText);
          return;
        }
        const [rows, recent] = await Promise.all([
          c.status({ service: o.service, region: o.region }),
          c.listDeployments({ service: o.service }, RECENT),
        ]);
        byRegion(rows);
        if (o.json) return ctx.out.json({ status: rows, deployments: recent });
        ctx.out.line(statusTable(rows));
        if (recent.length > 0) {
          ctx.out.line('\nrecent deployments:\n' + deploymentsTable(recent, Date.now()));
        }
      },
    );

  program
    .command('deployments')
    .description('deployments, newest first')
    .option('--service <service>', 'only those of this service')
    .option('--env <environment>', 'only those to this environment')
    .option('--limit <n>', 'at most this many (1-1000)', parseLimit, 20)
    .option('--json', 'print JSON')
    .action(
      async (
        o: { service?: string; env?: string; limit: number; json?: boolean },
        cmd: Command,
      ) => {
        const list = await ctx
          .client(cmd)
          .listDeployments({ service: o.service, environment: o.env }, o.limit);
        if (o.json) return ctx.out.json(list);
        ctx.out.line(list.length > 0 ? deploymentsTable(list, Date.now()) : 'no deployments');
      },
    );
}

/** Prints a dry run; the run fails when a policy would refuse the deployment. */
async function plan(
  ctx: CliContext,
  c: SlipwayClient,
  req: Parameters<SlipwayClient['createDeployment']>[0],
  json: boolean | undefined,
): Promise<void> {
  const p = await c.planDeployment(req);
  ctx.out.result(p, json, () => planText(p.deployment, p.refusals));
  if (p.refusals.length > 0) ctx.fail();
}

function planText(d: DeploymentView, refusals: string[]): string {
  const batches: string[][] = [];
  for (const h of d.hosts) (batches[h.batch] ??= []).push(h.hostName);
  const waveAt = new Map(d.waves.map((w) => [w.firstBatch, w]));
  return [
    describeDeployment(d),
    ...batches.flatMap((hosts, i) => {
      const w = waveAt.get(i);
      const line = `  batch ${i + 1}: ${hosts.join(', ')}`;
      if (!w) return [line];
      const bake = w.bakeMs > 0 ? `, then bake ${formatDuration(w.bakeMs)}` : '';
      const gates = w.gates > 0 ? ` holding ${w.gates} gate(s)` : '';
      return [`wave ${w.name}${bake}${gates}:`, line];
    }),
    ...(d.approval
      ? [
          `needs ${d.approval.required} approval(s) from someone other than ${d.approval.requestedBy}`,
        ]
      : []),
    ...(refusals.length > 0
      ? ['would be refused:', ...refusals.map((r) => `  - ${r}`)]
      : ['no policy refuses it']),
    'nothing was changed (dry run)',
  ].join('\n');
}

interface GlassOptions {
  breakGlass?: boolean;
  reason?: string;
}

function breakGlass(o: GlassOptions): { reason: string } | undefined {
  if (!o.breakGlass) {
    if (o.reason !== undefined)
      throw new SlipwayError('INVALID', '--reason goes with --break-glass');
    return undefined;
  }
  if (!o.reason?.trim()) throw new SlipwayError('INVALID', '--break-glass needs --reason "why"');
  return { reason: o.reason };
}

function parseLimit(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 1000) {
    throw new InvalidArgumentError(
      `expected a whole number from 1 to 1000, not ${JSON.stringify(s)}`,
    );
  }
  return n;
}

function parseVersion(s: string): number {
  const m = /^v?(\d+)$/.exec(s);
  if (!m)
    throw new SlipwayError('INVALID', `--to ${JSON.stringify(s)}: expected a release like v3`);
  return Number(m[1]);
}

/** Prints a new deployment, or with --wait follows it to its end and fails unless it succeeded. */
async function report(
  ctx: CliContext,
  c: SlipwayClient,
  d: DeploymentView,
  o: FollowOptions,
): Promise<void> {
  const { out } = ctx;
  const waiting =
    d.state === 'awaiting_approval'
      ? `\n${approvalText(d)}`
      : d.state === 'queued'
        ? `\nqueued behind deployment ${d.queuedBehind ?? '?'} (it starts when that one ends)`
        : '';
  if (!o.wait) {
    out.result(d, o.json, () => `${describeDeployment(d)}${waiting}\ndeployment ${d.id}`);
    return;
  }
  // The id first, on stdout: to look it up or cancel it while this follows it.
  if (!o.json) {
    out.progress(describeDeployment(d) + waiting);
    out.line(`deployment ${d.id}`);
  }
  const final = await watchDeployment(c, d, out.progressUnless(o.json));
  if (o.json) out.json(final);
  if (final.state !== 'succeeded') ctx.fail();
}

/** Where a deployment stands with its approvals, or that it needs none. */
function approvalText(d: DeploymentView): string {
  const a = d.approval;
  if (!a) return 'needs no approval';
  const by = a.approvals.map((x) => x.by).join(', ');
  const got = `${a.approvals.length} of ${a.required} approval(s)${by ? ` (${by})` : ''}`;
  if (d.state !== 'awaiting_approval') return `${got}; ${d.state}`;
  return `awaiting approval: ${got}, asked by ${a.requestedBy}, expires ${a.expiresAt}; approve with: slipway approve ${d.id.slice(0, 8)}`;
}

function deploymentText(d: DeploymentView): string {
  return [
    `deployment ${d.id}`,
    `${describeDeployment(d)}\nstate: ${d.state}${d.reason ? ` (${d.reason})` : ''}`,
    ...(d.approval ? [`approval: ${approvalText(d)}`] : []),
    ...(d.waves.length > 0 ? ['waves:', ...wavesText(d, Date.now())] : []),
    ...(d.bake ? readingsText(d.bake.readings) : []),
    table(
      ['HOST', 'REGION', 'BATCH', 'STATE', 'DETAIL'],
      d.hosts.map((h) => [h.hostName, h.region, h.batch + 1, h.state, h.detail]),
    ),
  ].join('\n');
}

/** Hosts × services with the active release and its state. */
function statusTable(
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
