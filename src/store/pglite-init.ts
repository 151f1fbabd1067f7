/**
 * Creates an embedded database's files (initdb), run as a process of its own by `initDataDir`:
 * `node pglite-init.js DATA_DIR`. Creating them grows the database's memory by about 500 MB,
 * which neither WebAssembly nor the allocator gives back while the process lives; the server
 * then opens the database at a third of that.
 */
import { PGlite } from '@electric-sql/pglite';

const dataDir = process.argv[2];
if (!dataDir) {
  process.stderr.write('usage: pglite-init DATA_DIR\n');
  process.exit(2);
}
const db = new PGlite(dataDir);
await db.waitReady;
await db.close();
