#!/usr/bin/env node
// The slipway executable: runs the compiled entry point, which `npm run build` (and `npm ci`,
// through `prepare`) writes into dist/. Compiled rather than through a TypeScript loader at
// every start, agents and CLI verbs start faster and in less memory.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    `slipway is not built: ${fileURLToPath(main)} is missing. Run \`npm run build\` in ${resolve(fileURLToPath(new URL('..', import.meta.url)))} first.\n`,
  );
  process.exit(1);
}
// Stack traces in logs then name the TypeScript sources' lines, not the compiled ones.
process.setSourceMapsEnabled(true);
await import(main.href);
