/** Prepares what the whole suite shares: an up-to-date build and one throwaway PostgreSQL server. */
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { ensureBuilt } from './build.js';
import { startPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  await ensureBuilt();
  const pg = await startPostgres();
  project.provide('postgresUrl', pg.url);
  return () => pg.stop();
}
