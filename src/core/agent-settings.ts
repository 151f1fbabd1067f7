/**
 * What an agent is told when it starts: declared once here, filled in by the command line and
 * read by the agent, so the two cannot drift apart.
 */
export interface AgentSettings {
  /** The control plane's base URL. */
  server: string;
  /** The server's join token: needed on first start only, while the agent has no credential. */
  joinToken?: string;
  name: string;
  region: string;
  labels: Record<string, string>;
  dataDir: string;
  /** Where to serve chunks to the region (null: serve nothing, fetch from the origin only). */
  peerListen: { host: string; port: number } | null;
  /** The URL peers reach this agent at, when the listen address is not it. */
  peerUrl?: string;
  /** This agent is its region's relay. */
  relay: boolean;
  /** Bytes per second, each way, for deploy traffic (null: no cap). */
  maxBandwidth: number | null;
  /** Jobs this host runs at once (absent: one per core); more wait. */
  jobSlots?: number;
}
