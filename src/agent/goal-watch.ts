/**
 * Watching this host's goal: a long poll that hands each new goal on, keeps the last one on
 * disk so a restarted agent converges while the server is away, and rides out the server
 * going away.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isSlipwayError, sleep } from '../core/index.js';
import { agentGoal, type AgentGoal, type Peering } from '../api/index.js';
import type { Enrollment } from './enrollment.js';

const POLL_WAIT_MS = 25_000;

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
  log: (msg: string) => void;
}

/** Polls for the goal until `signal` aborts; enrolls first, and again if the server forgot us. */
export async function watchGoal(deps: GoalWatchDeps, signal: AbortSignal): Promise<void> {
  const { enrollment, log } = deps;
  let generation = -1;
  let failures = 0;
  while (!signal.aborted) {
    try {
      await enrollment.ensure();
      const goal = await enrollment.client.agentGoal(generation, POLL_WAIT_MS, signal);
      if (failures > 0) log(`reconnected to ${deps.server}`);
      failures = 0;
      if (goal.peering) deps.onPeering(goal.peering);
      if (goal.generation !== generation) {
        generation = goal.generation;
        await writeFile(deps.goalCache, JSON.stringify(goal));
        deps.onGoal(goal);
      }
    } catch (e) {
      if (signal.aborted) return;
      if (isSlipwayError(e, 'UNAUTHENTICATED') && enrollment.forget()) {
        log('the server no longer knows this host’s credential: enrolling again');
        generation = -1;
        continue;
      }
      if (failures === 0) {
        log(`lost the server (${(e as Error).message}); keeping the current releases and retrying`);
      }
      failures++;
      await sleep(Math.min(10_000, 250 * 2 ** Math.min(failures, 6)), signal);
    }
  }
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
