/**
 * Keeps dist/ in step with the sources for the tests: they start `slipway` processes, which run
 * the compiled JavaScript, so a source changed since the last build would be tested as it was.
 * `npm test` builds first; this covers a test file run on its own after an edit.
 */
import { execFile } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../harness/local-fleet.js';

/** What tsconfig.build.json compiles (tests aside: they are not built). */
const SOURCES = ['src', 'examples/demo', 'test/harness'];
/** Written by every build that changes something; touched here after each build. */
const BUILD_INFO = join(REPO_ROOT, 'dist', '.tsbuildinfo');

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    newest = Math.max(newest, mtime(join(entry.parentPath, entry.name)));
  }
  return newest;
}

/** Builds when a source is newer than the last build; type errors are shown, not fatal. */
export async function ensureBuilt(): Promise<void> {
  const newest = Math.max(...SOURCES.map((d) => newestSource(join(REPO_ROOT, d))));
  if (mtime(BUILD_INFO) >= newest) return;
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
      cwd: REPO_ROOT,
    });
  } catch (e) {
    // tsc still writes the JavaScript; vitest does not type-check the tests either.
    const out = (e as { stdout?: string }).stdout ?? String(e);
    process.stderr.write(`npm run build reported errors; testing what it compiled:\n${out}\n`);
    return;
  }
  // A build with nothing to change leaves the file as it was: mark the sources as built.
  const now = new Date();
  utimesSync(BUILD_INFO, now, now);
}
