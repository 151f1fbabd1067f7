/**
 * Access: `slipway whoami`; `slipway users` (with `create NAME [--machine]`, `remove NAME`);
 * `slipway tokens` (with `create --user U --role R [--env E] [--service S] [--expires 30d]`,
 * `revoke ID`). A new token's secret is printed once and never again.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ROLES, describeGrant, parseDuration } from '../../core/index.js';
import type { ApiToken } from '../../api/index.js';
import type { CliContext } from '../context.js';
import { table } from '../output.js';

/** Adds `whoami`, `users` and `tokens`. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('whoami')
    .description('the user the API token belongs to, and what it may do')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      ctx.out.result(
        await ctx.client(cmd).whoami(),
        o.json,
        (w) =>
          `${w.user} (token ${w.tokenId}): ${describeGrant(w.grant)}\nmay: ${w.permissions.join(', ')}`,
      );
    });

  const users = program
    .command('users')
    .description('people and machine accounts (with a verb: create, remove)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      ctx.out.result(await ctx.client(cmd).listUsers(), o.json, (list) =>
        table(
          ['USER', 'KIND', 'CREATED'],
          list.map((u) => [u.name, u.kind, u.createdAt]),
        ),
      );
    });

  users
    .command('create')
    .description(
      'add a person, or with --machine an account for a pipeline; it may do nothing until given a token',
    )
    .argument('<name>', 'user name')
    .option('--machine', 'a machine account (a CI pipeline), not a person')
    .action(async (name: string, o: { machine?: boolean }, cmd: Command) => {
      const u = await ctx.client(cmd).createUser({ name, kind: o.machine ? 'machine' : 'person' });
      ctx.out.line(
        `created ${u.kind} ${u.name}; give it a token: slipway tokens create --user ${u.name} --role ROLE`,
      );
    });

  users
    .command('remove')
    .description('remove a user and revoke every token it holds')
    .argument('<name>', 'user name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await ctx.client(cmd).removeUser(name);
      ctx.out.line(`removed user ${name} and revoked its tokens`);
    });

  const tokens = program
    .command('tokens')
    .description('users’ API tokens, without their secrets (with a verb: create, revoke)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      ctx.out.result(await ctx.client(cmd).listTokens(), o.json, tokensTable);
    });

  tokens
    .command('create')
    .description('make a token holding one role on one scope; its secret is printed this once')
    .requiredOption('--user <name>', 'the user it belongs to')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`, role)
    .option('--env <environment>', 'only this environment (deployer, approver)')
    .option('--service <service>', 'only this service of --env (deployer, approver)')
    .option('--expires <duration>', 'lifetime, e.g. 30d, 12h (default: never)', lifetime)
    .option('--json', 'print JSON')
    .action(
      async (
        o: {
          user: string;
          role: (typeof ROLES)[number];
          env?: string;
          service?: string;
          expires?: number;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const t = await ctx.client(cmd).createToken({
          user: o.user,
          role: o.role,
          environment: o.env,
          service: o.service,
          expiresInMs: o.expires,
        });
        // `tokens` declares --json too, and commander hands it to the parent: read both.
        ctx.out.result(
          t,
          cmd.optsWithGlobals<{ json?: boolean }>().json,
          (x) =>
            `token ${x.id} for ${x.user}: ${describeGrant(x.grant)}${x.expiresAt ? `, expires ${x.expiresAt}` : ''}\n` +
            `${x.token}\nkeep it now: it is not shown again (only its hash is kept)`,
        );
      },
    );

  tokens
    .command('revoke')
    .description('revoke a token: every server refuses it from then on')
    .argument('<id>', 'token id (slipway tokens lists them)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await ctx.client(cmd).revokeToken(id);
      ctx.out.line(`revoked token ${id}`);
    });
}

function role(value: string): (typeof ROLES)[number] {
  if ((ROLES as readonly string[]).includes(value)) return value as (typeof ROLES)[number];
  throw new InvalidArgumentError(
    `expected one of ${ROLES.join(', ')}, not ${JSON.stringify(value)}`,
  );
}

function lifetime(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError(
      `expected a duration such as 30d, 12h or 90m, not ${JSON.stringify(value)}`,
    );
  return ms;
}

function tokensTable(list: ApiToken[]): string {
  return table(
    ['ID', 'USER', 'ROLE', 'SCOPE', 'CREATED', 'EXPIRES'],
    list.map((t) => [
      t.id,
      t.user,
      t.grant.role,
      t.grant.environment === null
        ? '*'
        : `${t.grant.environment}${t.grant.service ? `/${t.grant.service}` : ''}`,
      t.createdAt,
      t.expiresAt ?? 'never',
    ]),
  );
}
