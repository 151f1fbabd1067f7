/** Worker threads of the bench, which runs as TypeScript through tsx: so do its threads. */
import { Worker } from 'node:worker_threads';

/** Starts `module` (a URL of a .ts file) on a thread of its own, with `workerData`. */
export function tsWorker(module: URL, workerData: unknown): Worker {
  // An eval worker is a CommonJS script, which may still import().
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const boot = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(module.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
