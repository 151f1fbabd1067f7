/**
 * The `slipway` entry point: the only place that builds real dependencies (database, sockets,
 * process environment) and hands them to the server, the agent and the CLI.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseHostPort } from './core/index.js';
import { runCli, type ProcessCommands } from './cli/index.js';

const log = (prefix: string) => (msg: string) =>
  process.stderr.write(`${new Date().toISOString()} ${prefix} ${msg}\n`);

/** Stops `stop` once on SIGINT/SIGTERM, then exits. */
function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

const processes: ProcessCommands = {
  async server({
    dataDir,
    listen,
    databaseUrl,
    peerNetworks,
    maxConnectionsPerAddress,
    maxImageEntries,
  }) {
    const { host, port } = parseHostPort(listen, '--listen');
    // Loaded here, not at the top: agents and CLI verbs start faster without the database code.
    const { openStore } = await import('./store/index.js');
    const { bootstrapTokens, buildServer, loadServerKey } = await import('./server/index.js');
    const { ObjectStore } = await import('./image/index.js');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const serverKey = await loadServerKey(dataDir);
    if (serverKey.created) {
      process.stderr.write(
        `created the server key: ${serverKey.path} (mode 0600; every server on one database needs a copy of it)\n`,
      );
    }
    const store = await openStore(
      databaseUrl
        ? { engine: 'postgres', url: databaseUrl }
        : {
            engine: 'pglite',
            dataDir: join(dataDir, 'db'),
            // Every query fails from now on: exit, so that a supervisor starts the server again
            // (it resumes from the data directory, as after any crash).
            onStopped: (e) => {
              log('server')(`${e.message}; exiting`);
              process.exit(1);
            },
          },
    );
    const objects = new ObjectStore(join(dataDir, 'objects'));
    const { written } = await bootstrapTokens(store, dataDir);
    for (const w of written)
      process.stderr.write(`created the ${w.kind} token: ${w.path} (mode 0600)\n`);
    const server = buildServer({
      store,
      objects,
      serverKey: serverKey.key,
      peerNetworks,
      log: log('server'),
      connections: { maxConnectionsPerAddress },
      maxImageEntries,
    });
    const url = await server.listen(host, port).catch(async (e: unknown) => {
      // E.g. the stored secrets do not open with this server key: say so and exit.
      await server.close().catch(() => {});
      await store.close();
      throw e;
    });
    process.stderr.write(
      `slipway server listening on ${url} (store: ${store.engine === 'pglite' ? `embedded PGlite in ${join(dataDir, 'db')}` : 'PostgreSQL'})\n`,
    );
    onSignals(async () => {
      await server.close();
      await store.close();
    });
  },

  async migrateDatabase(url, runtimeRole) {
    const { migrateDatabase } = await import('./store/index.js');
    return migrateDatabase(url, { runtimeRole });
  },

  async stopServices(dataDir) {
    const { HostLayout, stopServicesLeft } = await import('./agent/index.js');
    return stopServicesLeft(new HostLayout(dataDir));
  },

  async agent(settings) {
    const { Agent } = await import('./agent/index.js');
    const agent = new Agent({ ...settings, log: log(`agent ${settings.name}`) });
    await agent.start();
    onSignals(() => agent.stop());
  },
};

process.exitCode = await runCli(process.argv, processes);
