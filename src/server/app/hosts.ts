/** An operator's changes to registered hosts: removing one, naming its region's relay. */
import { NotFoundError } from '../../core/index.js';
import type { HostRow } from '../../store/index.js';
import type { Identity } from '../authz/identity.js';
import type { AppContext } from './context.js';

/**
 * Removes a host: its credential, its goals and the host itself, in one unit of work. Revoking
 * the credential announces it, so every server process drops it from its token cache at once.
 * A running deployment that includes it stops waiting for it (the orchestrator sees it gone).
 * Its name is free again for a new host to enroll.
 */
export async function removeHost(ctx: AppContext, actor: Identity, name: string): Promise<void> {
  const hostId = await ctx.uow.run(actor, async ({ tx, emit }) => {
    const host = await tx.hosts.byName(name);
    if (!host) throw new NotFoundError('host', name);
    await tx.tokens.revokeOfHost(host.id);
    await tx.hosts.remove(host.id);
    await tx.jobs.endRunsOfHost(host.id, 'lost', 'the host was removed while the job ran');
    emit('host.removed', { host: host.name, hostId: host.id, region: host.region });
    return host.id;
  });
  ctx.hosts.removed(hostId);
  ctx.goalBook.forget(hostId);
  ctx.tickets.forget(hostId);
  ctx.kick();
}

/** Names a host its region's relay, or stops doing so; peers learn it with their next goal. */
export async function setRelay(
  ctx: AppContext,
  actor: Identity,
  name: string,
  relay: boolean,
): Promise<HostRow> {
  const changed = await ctx.uow.run(actor, async ({ tx, emit }) => {
    const host = await tx.hosts.byName(name);
    if (!host) throw new NotFoundError('host', name);
    await tx.hosts.setRelay(host.id, relay);
    emit('host.relay', { host: host.name, region: host.region, relay });
    return { ...host, relay };
  });
  ctx.hosts.relayChanged(changed.id, relay, ctx.now());
  return changed;
}
