/** Where things live in an agent's data dir (the README's Concepts section draws the tree). */
import { join } from 'node:path';

/** The paths of an agent's data dir. */
export class HostLayout {
  constructor(readonly root: string) {}

  get objects(): string {
    return join(this.root, 'objects');
  }
  get credentials(): string {
    return join(this.root, 'agent.json');
  }
  /** The last goal received, so a restarted agent converges even while the server is down. */
  get goalCache(): string {
    return join(this.root, 'goal.json');
  }
  get services(): string {
    return join(this.root, 'services');
  }
  /** One directory per job running here (its files, its scratch), removed when it ends. */
  get jobs(): string {
    return join(this.root, 'jobs');
  }
  get images(): string {
    return join(this.root, 'images');
  }
  manifest(imageId: string): string {
    return join(this.root, 'images', imageId, 'manifest.json');
  }
  service(name: string): string {
    return join(this.root, 'services', name);
  }
  releases(name: string): string {
    return join(this.service(name), 'releases');
  }
  release(name: string, version: number): string {
    return join(this.releases(name), `v${version}`);
  }
  /** Written after a release is materialized: which image it holds. */
  releaseMarker(name: string, version: number): string {
    return join(this.releases(name), `v${version}.json`);
  }
  current(name: string): string {
    return join(this.service(name), 'current');
  }
  shared(name: string): string {
    return join(this.service(name), 'shared');
  }
  logs(name: string): string {
    return join(this.shared(name), 'logs');
  }
  /** The dynamic port this service keeps on this host. */
  portFile(name: string): string {
    return join(this.shared(name), 'port');
  }
  pidFile(name: string): string {
    return join(this.shared(name), 'service.pid');
  }
}
