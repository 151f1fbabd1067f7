/** What every application operation runs with: built once by `buildServer`. */
import type { Cidr } from '../../core/index.js';
import type { ObjectStore } from '../../image/index.js';
import type { Store } from '../../store/index.js';
import type { GoalWatch } from '../events/goal-watch.js';
import type { JobWatch } from '../events/job-watch.js';
import type { LiveHosts } from '../hosts/live-hosts.js';
import type { DeploymentSteps } from './deployment-step.js';
import type { GoalBook } from './goal-book.js';
import type { RecentTickets } from './recent-tickets.js';
import type { ReportSpread } from './report-spread.js';
import type { TicketKey } from './ticket-key.js';
import type { UnitOfWork } from './unit-of-work.js';

export interface AppContext {
  store: Store;
  uow: UnitOfWork;
  /** Hosts with their agents' latest reports. */
  hosts: LiveHosts;
  goals: GoalWatch;
  /** Hosts' goal rows and the releases they name, as the long polls answer them. */
  goalBook: GoalBook;
  /** Followers of jobs' output wait here for the next lines. */
  jobWatch: JobWatch;
  /** Steps deployments: the orchestrator each pass, a new deployment its first. */
  steps: DeploymentSteps;
  /** Networks whose addresses agents may advertise as peer URLs besides their own. */
  peerNetworks: readonly Cidr[];
  /** Signs agents' peer tickets. */
  ticketKey: TicketKey;
  /** Tickets signed lately, handed out again while young. */
  tickets: RecentTickets;
  /** The window each goal answer gives its agent to report in. */
  reportSpread: ReportSpread;
  /** The origin's chunk store. */
  objects: ObjectStore;
  now: () => number;
  log: (msg: string) => void;
  /** Asks the orchestrator for a pass soon (after a deployment was created or cancelled). */
  kick: () => void;
  /** Runs an orchestrator pass now, for an answer that shows its effect (a cancellation). */
  pass: () => Promise<void>;
}
