/** The agents' operations: enrollment, the goal-state long poll and status reports. */
import { randomUUID } from 'node:crypto';
import { checkPeerUrl, ConflictError, SlipwayError } from '../../core/index.js';
import type { AgentGoal, AgentReport, HostReport } from '../../api/index.js';
import type { HostRow } from '../../store/index.js';
import type { Identity } from '../authz/identity.js';
import { hashToken, newToken } from '../authz/tokens.js';
import type { AppContext } from './context.js';
import { LONG_POLL_MAX_MS } from '../hosts/online.js';
import { goalOfHost } from './goal-state.js';

/** The host an agent's credential belongs to; only agents have a goal state or a report. */
export function hostIdOf(actor: Identity): string {
  if (actor.kind !== 'agent') throw new SlipwayError('FORBIDDEN', 'only agents have a goal state');
  return actor.hostId;
}

/**
 * Registers a new host and issues its own credential. A name that is taken is refused: the join
 * token is shared by every new host, so taking a host over with it would hand its goal (and its
 * services' environment) to anyone holding it. An operator replaces a host by removing it first.
 */
export async function enroll(
  ctx: AppContext,
  actor: Identity,
  req: { name: string; region: string; labels: Record<string, string>; relay: boolean },
): Promise<{ hostId: string; token: string }> {
  const token = newToken('agent');
  const host = await ctx.uow.run(actor, async ({ tx, emit }) => {
    const h = await tx.hosts.add({ id: randomUUID(), ...req });
    if (!h) {
      throw new ConflictError(
        `a host named ${req.name} is already enrolled; to replace it on purpose, stop its agent and run \`slipway hosts remove ${req.name}\` first`,
        { host: req.name },
      );
    }
    await tx.tokens.add(hashToken(token), 'agent', h.id);
    emit('host.enrolled', { host: h.name, region: h.region, relay: h.relay });
    return h;
  });
  ctx.hosts.enrolled(host, new Date(ctx.now()));
  ctx.goalBook.enrolled(host.id, host.goalGeneration);
  return { hostId: host.id, token };
}

/**
 * The calling host's goal state, at once when its generation is past `after`, else when it
 * changes or after `waitMs`, whichever is first.
 */
export async function agentGoal(
  ctx: AppContext,
  actor: Identity,
  opts: { after: number; waitMs: number; closed: AbortSignal },
): Promise<AgentGoal> {
  const hostId = hostIdOf(actor);
  ctx.hosts.pollOpened(hostId, new Date(ctx.now()));
  // Held at most LONG_POLL_MAX_MS, which liveness counts on; timers keep real time, whatever
  // clock the context keeps.
  const waitMs = Math.min(opts.waitMs, LONG_POLL_MAX_MS);
  const until = performance.now() + waitMs;
  // Waiting starts before the read, so a change committed between the two is not missed.
  let waiting = ctx.goals.wait(hostId, waitMs);
  const onClose = () => waiting.cancel();
  opts.closed.addEventListener('abort', onClose);
  try {
    let host: HostRow | undefined = await ctx.hosts.byId(hostId);
    // An announcement naming every host wakes this poll too: wait on when its goal is unchanged.
    while (host && host.goalGeneration <= opts.after && !opts.closed.aborted) {
      if (until - performance.now() <= 0 || waitMs <= 0) break;
      await waiting.changed;
      // Again before the read, so that no change between the two is missed.
      if (opts.closed.aborted) break;
      const left = until - performance.now();
      if (left > 0) waiting = ctx.goals.wait(hostId, left);
      host = await ctx.hosts.byId(hostId);
    }
    if (!host) throw new SlipwayError('UNAUTHENTICATED', 'this host is no longer registered');
    return await goalOfHost(ctx, host);
  } finally {
    opts.closed.removeEventListener('abort', onClose);
    waiting.cancel();
    // Closed before the answer: the agent (or its network) went away; it re-polls if it runs.
    ctx.hosts.pollClosed(hostId, opts.closed.aborted ? new Date(ctx.now()) : null);
  }
}

/**
 * Records a report. What each host last reported, less fetch progress, is kept to wake the
 * orchestrator only when that changes: its regular tick still sees progress, and a fleet
 * fetching at once sends a report a second per host; a pass for each would keep the server busy
 * with nothing new.
 */
export class Reports {
  private readonly lastStates = new Map<string, string>();
  /** The last peer URL problem of each host, to log a problem once, not with every report. */
  private readonly problems = new Map<string, string | null>();

  constructor(private readonly ctx: AppContext) {}

  /**
   * `from` is the address the report came from. A peer URL that may not be handed to peers is
   * dropped with the reason kept (shown by `slipway hosts`), not refused with the report: the
   * report also carries the services' states, and a host whose URL is wrong must keep running
   * and deploying (it then only fetches, it does not serve its region).
   */
  record(actor: Identity, report: AgentReport, from: string): void {
    const hostId = hostIdOf(actor);
    const peer = report.peerUrl ? checkPeerUrl(report.peerUrl, from, this.ctx.peerNetworks) : null;
    if (peer && !peer.ok && this.problems.get(hostId) !== peer.problem) {
      this.ctx.log(`host ${hostId}: peer URL not handed to peers: ${peer.problem}`);
    }
    this.problems.set(hostId, peer && !peer.ok ? peer.problem : null);
    const kept: HostReport = {
      ...report,
      checkedPeerUrl: peer?.ok ? peer.url : null,
      peerUrlProblem: peer && !peer.ok ? peer.problem : null,
    };
    this.ctx.hosts.report(hostId, kept, new Date(this.ctx.now()));
    const states = JSON.stringify(
      report.services.map((s) => ({ ...s, fetching: s.fetching && s.fetching.version })),
    );
    if (this.lastStates.get(hostId) !== states) {
      this.lastStates.set(hostId, states);
      this.ctx.kick();
    }
  }
}
