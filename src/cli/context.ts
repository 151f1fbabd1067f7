/** What every noun's verbs share: the options, the server client, the output, the processes. */
import type { Command } from 'commander';
import { SlipwayError, type AgentSettings, type Cidr } from '../core/index.js';
import { SlipwayClient } from '../api/index.js';
import type { Output } from './output.js';

/** Options every client verb shares: which server, which token. */
export interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

/** The server a verb talks to when neither --server nor SLIPWAY_SERVER names one. */
export const DEFAULT_SERVER = 'http://127.0.0.1:7400';

/** What `slipway server` is started with. */
export interface ServerOptions {
  dataDir: string;
  listen: string;
  databaseUrl?: string;
  /** Connections one address may hold open (0: no cap). */
  maxConnectionsPerAddress: number;
  /** Most entries an image's manifest may have. */
  maxImageEntries: number;
  /** Networks agents may advertise peer URLs in besides their own address (NAT). */
  peerNetworks: Cidr[];
}

/** What `main` provides: the long-running processes, which the CLI does not build itself. */
export interface ProcessCommands {
  server(opts: ServerOptions): Promise<void>;
  agent(settings: AgentSettings): Promise<void>;
  /** Stops the service processes agents left running in `dataDir`; resolves with their names. */
  stopServices(dataDir: string): Promise<string[]>;
  /**
   * Applies pending migrations to the PostgreSQL at `url` as its role (the owner), and grants a
   * runtime role what a server needs; resolves with the migrations applied.
   */
  migrateDatabase(
    url: string,
    runtimeRole?: string,
  ): Promise<{ applied: string[]; granted: string | null }>;
}

/** Handed to each noun's `register`: everything a verb needs besides its own options. */
export interface CliContext {
  readonly processes: ProcessCommands;
  readonly out: Output;
  /** A client of the server the command line names, with its token. */
  client(cmd: Command): SlipwayClient;
  /**
   * Makes the run exit `code` (default 1) without an error message: the output already said
   * what failed.
   */
  fail(code?: number): void;
}

/** A client from --server/SLIPWAY_SERVER and --token/SLIPWAY_TOKEN. */
export function clientFrom(
  opts: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): SlipwayClient {
  const server = opts.server ?? env.SLIPWAY_SERVER ?? DEFAULT_SERVER;
  const token = opts.token ?? env.SLIPWAY_TOKEN;
  if (!token) {
    throw new SlipwayError(
      'UNAUTHENTICATED',
      'no API token: pass --token or set SLIPWAY_TOKEN (the server wrote the admin token to <data-dir>/admin.token on its first start)',
    );
  }
  return new SlipwayClient({ server, token });
}

/** Commander's accumulator for an option that may be given several times. */
export function repeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}
