/**
 * Watching this host's goal: a long poll that hands each new goal on, keeps the last one on
 * disk so a restarted agent converges while the server is away, and rides out the server
 * going away. Every failure is followed by a wait, longer after each in a row (with jitter),
 * and the same problem is logged once, not on every try.
 */
import { readFile } from 'node:fs/promises';
import {
  Backoff,
  ProblemLog,
  isSlipwayError,
  sleep,
  type BackoffPolicy,
  type ErrorCode,
  type Random,
} from '../core/index.js';
import { agentGoal, type AgentGoal, type Peering } from '../api/index.js';
import type { Enrollment } from './enrollment.js';
import { writePrivateFile } from './private-files.js';

export const POLL_WAIT_MS = 25_000;
/**
 * Waits between tries after failures in a row. A server away (restarting) is found again within
 * five seconds: a restarted control plane judges deadlines once its hosts have had time to
 * report (RESTART_GRACE_MS). A server that refuses this host is asked about once a minute.
 */
export const GOAL_RETRY: BackoffPolicy = { firstMs: 500, maxMs: 5_000 };
export const REFUSED_RETRY: BackoffPolicy = { firstMs: 5_000, maxMs: 60_000 };
/** Answers to enrolling that asking again soon will not change. */
const REFUSALS: readonly ErrorCode[] = ['UNAUTHENTICATED', 'FORBIDDEN', 'CONFLICT', 'INVALID'];

/** What the goal watch works with. */
export interface GoalWatchDeps {
  enrollment: Enrollment;
  /** The server's URL, for the log. */
  server: string;
  /** Where the last goal is kept. */
  goalCache: string;
  /** Every answer carries a fresh peer ticket and peers, even without a new goal. */
  onPeering: (peering: Peering) => void;
  /** A new goal arrived (it is already saved). */
  onGoal: (goal: AgentGoal) => void;
  /** The server answers again after failures. */
  onReconnect?: () => void;
  log: (msg: string) => void;
  /** For the jitter of the waits (default Math.random). */
  random?: Random;
}

/** Polls for the goal until `signal` aborts; enrolls first, and again if the server forgot us. */
export async function watchGoal(deps: GoalWatchDeps, signal: AbortSignal): Promise<void> {
  const { enrollment, log } = deps;
  const backoff = new Backoff(GOAL_RETRY, deps.random);
  const refusedBackoff = new Backoff(REFUSED_RETRY, deps.random);
  const problems = new ProblemLog(log);
  let generation = -1;
  while (!signal.aborted) {
    let polled = false;
    try {
      await enrollment.ensure();
      polled = true;
      const goal = await enrollment.client.agentGoal(generation, POLL_WAIT_MS, signal);
      if (backoff.failures + refusedBackoff.failures > 0) deps.onReconnect?.();
      backoff.reset();
      refusedBackoff.reset();
      problems.recovered(`connected to ${deps.server} again`);
      if (goal.peering) deps.onPeering(goal.peering);
      if (goal.generation !== generation) {
        generation = goal.generation;
        // It holds every service's environment and the peer ticket.
        await writePrivateFile(deps.goalCache, JSON.stringify(goal));
        deps.onGoal(goal);
      }
    } catch (e) {
      if (signal.aborted) return;
      if (polled && isSlipwayError(e, 'UNAUTHENTICATED') && enrollment.refusedCredential()) {
        log(`${deps.server} refused this host’s credential: enrolling again with the join token`);
        generation = -1;
        continue; // once per run (see refusedCredential)
      }
      const message = (e as Error).message;
      // A refusal (a revoked credential, a wrong join token, a taken name) only an operator
      // settles: ask about once a minute. A server away: within seconds.
      const refused = polled
        ? isSlipwayError(e, 'UNAUTHENTICATED')
        : isSlipwayError(e) && REFUSALS.includes(e.code);
      if (refused) {
        problems.problem(polled ? refusedMessage(enrollment, deps.server) : message, 'refused');
      } else {
        problems.problem(
          polled
            ? `lost the server ${deps.server} (${message}); keeping the current releases and retrying`
            : `${message}; retrying`,
        );
      }
      await sleep((refused ? refusedBackoff : backoff).next(), signal);
    }
  }
}

/** What an operator reads when the server refuses this host's credential for good. */
function refusedMessage(enrollment: Enrollment, server: string): string {
  const name = enrollment.name;
  return (
    `${server} refused this host’s credential (401): it was revoked, or replaced when another ` +
    `host enrolled under the name ${name}. This agent keeps the current releases running and ` +
    `asks again now and then, but gets no new goals. To fix it, remove ${enrollment.credentialPath} ` +
    `and restart the agent with a join token (--join-token-file), or ask an operator whether ` +
    `another host took the name ${name}.`
  );
}

/** The last goal saved, if it can be read. */
export async function cachedGoal(path: string): Promise<AgentGoal | undefined> {
  try {
    const parsed = agentGoal.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
