/**
 * The audit trail: `slipway audit [--since 24h] [--user U] [--env E] [--limit N]` lists who did
 * what, oldest first; `slipway audit verify` walks its hash chain and exits 1 if it was changed.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../../core/index.js';
import type { AuditEntryView } from '../../api/index.js';
import type { CliContext } from '../context.js';
import { table } from '../output.js';

/** Entries one page asks for. */
const PAGE = 1000;

/** Adds `audit` and `audit verify`. */
export function register(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .description('who did what, when, from where, with what result (with a verb: verify)')
    .option(
      '--since <duration>',
      'entries of this long ago and later, e.g. 1h, 7d (default 24h)',
      ago,
    )
    .option('--user <name>', 'only this user’s (or an actor such as system:orchestrator)')
    .option('--env <environment>', 'only what acted on this environment')
    .option('--limit <n>', 'at most this many entries', count, 1000)
    .option('--json', 'print JSON')
    .action(
      async (
        o: { since?: string; user?: string; env?: string; limit: number; json?: boolean },
        cmd: Command,
      ) => {
        const c = ctx.client(cmd);
        const entries: AuditEntryView[] = [];
        let after: number | undefined;
        while (entries.length < o.limit) {
          const page = await c.listAudit({
            after,
            since: o.since ?? ago('24h'),
            user: o.user,
            environment: o.env,
            limit: Math.min(PAGE, o.limit - entries.length),
          });
          entries.push(...page);
          if (page.length === 0) break;
          after = page.at(-1)!.seq;
        }
        ctx.out.result(entries, o.json, auditTable);
      },
    );

  audit
    .command('verify')
    .description('walk the hash chain; name the first entry changed, removed or reordered')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const v = await ctx.client(cmd).verifyAudit();
      ctx.out.result(v, cmd.optsWithGlobals<{ json?: boolean }>().json ?? o.json, () =>
        v.ok
          ? `audit trail intact: ${v.entries} entries, head entry ${v.head.seq} sha256 ${v.head.hash}`
          : `AUDIT TRAIL BROKEN at entry ${v.problem!.seq}: ${v.problem!.message} (${v.entries} entries hold before it)`,
      );
      if (!v.ok) ctx.fail();
    });
}

/** `--since 1h` as the time it names. */
function ago(value: string): string {
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new InvalidArgumentError(
      `expected a duration such as 1h or 7d, not ${JSON.stringify(value)}`,
    );
  return new Date(Date.now() - ms).toISOString();
}

function count(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1)
    throw new InvalidArgumentError(`expected a whole number, not ${JSON.stringify(value)}`);
  return n;
}

function auditTable(entries: AuditEntryView[]): string {
  if (entries.length === 0) return 'no audit entries';
  return table(
    ['#', 'AT (UTC)', 'ACTOR', 'FROM', 'OPERATION', 'ON', 'RESULT'],
    entries.map((e) => [
      e.seq,
      e.at.replace('T', ' ').slice(0, 19),
      e.tokenId ? `${e.actor} (${e.tokenId})` : e.actor,
      e.source ?? '-',
      e.operation === 'deployment.state'
        ? `deployment.state → ${String((e.args as { state?: string }).state)}`
        : e.operation,
      targetText(e.target),
      e.result.length > 80 ? `${e.result.slice(0, 79)}…` : e.result,
    ]),
  );
}

/** What an entry acted on, in a fixed order (the store keeps no order of keys). */
const TARGET_ORDER = ['environment', 'service', 'release', 'deployment', 'id', 'name'];

function targetText(t: Record<string, string | number>): string {
  const rank = (k: string) =>
    TARGET_ORDER.includes(k) ? TARGET_ORDER.indexOf(k) : TARGET_ORDER.length;
  const keys = Object.keys(t).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  return keys.map((k) => `${k}=${String(t[k]).slice(0, 12)}`).join(' ') || '-';
}
