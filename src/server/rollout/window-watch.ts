/**
 * Whether an environment's deploy windows are closed (or a freeze is on) now, for deployments
 * already running: one that reaches the start of a wave then pauses until they open. The
 * service map is read at most every few seconds, outside any step's transaction.
 */
import { deployWindowCheck, resolveEnvironment, type ServiceMap } from '../../core/index.js';
import type { Store } from '../../store/index.js';

const MAP_EVERY_MS = 5_000;

export class WindowWatch {
  private map: ServiceMap | null = null;
  private readAt = -Infinity;

  constructor(private readonly store: Store) {}

  /** Why `environment` takes no deployment at `now`, with when it will; null when it does. */
  async closed(environment: string, now: number): Promise<string | null> {
    if (performance.now() - this.readAt >= MAP_EVERY_MS) {
      this.map = (await this.store.serviceMaps.current())?.map ?? null;
      this.readAt = performance.now();
    }
    if (!this.map) return null;
    let env;
    try {
      env = resolveEnvironment(this.map, environment);
    } catch {
      return null; // the environment left the map: nothing says it is closed
    }
    const v = deployWindowCheck(env.policy?.windows ?? [], env.policy?.freezes ?? [], now);
    if (v.allowed) return null;
    const next =
      v.nextAllowed === null ? 'none within a year' : new Date(v.nextAllowed).toISOString();
    return `${v.reason}; next allowed ${next}`;
  }
}
