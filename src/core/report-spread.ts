/**
 * Spreading the reports that follow a goal change. Every agent reports as soon as a new goal
 * arrives; a change that answers 10,000 long polls within a second would bring 10,000 reports
 * within the next, and the server, handling them in arrival order, would answer nothing else
 * (a health check included) for seconds. So each goal answer names a window, sized by how many
 * answers the server has just sent, and the agent reports at a random moment within it.
 */

/** Reports a server is counted on to take a second, over and above everything else. */
export const REPORTS_PER_SECOND = 4_000;

/** The longest window: a report still comes within this of the goal, however large the fleet. */
export const REPORT_SPREAD_MAX_MS = 10_000;

/**
 * The window for the agents of answers sent while `recentAnswers` went out within the last
 * second: none while they are few (a deployment to a few hundred hosts reports at once), then
 * as long as the server takes to read that many reports.
 */
export function reportSpreadMs(
  recentAnswers: number,
  perSecond: number = REPORTS_PER_SECOND,
): number {
  if (recentAnswers <= perSecond / 10) return 0;
  return Math.min(REPORT_SPREAD_MAX_MS, Math.round((recentAnswers / perSecond) * 1000));
}
