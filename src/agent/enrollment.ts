/**
 * This host's standing with the control plane: the credential it enrolled with, kept in the
 * data dir, and the client that carries it.
 */
import { SlipwayError, type AgentSettings, type ErrorCode } from '../core/index.js';
import { SlipwayClient } from '../api/index.js';
import { loadCredentials, saveCredentials, type Credentials } from './credentials.js';

/** What enrolling needs of the agent's settings. */
export type EnrollmentSettings = Pick<
  AgentSettings,
  'server' | 'joinToken' | 'name' | 'region' | 'labels' | 'relay'
>;

/** Enrolls once (or takes the saved credential) and hands out the client that carries it. */
export class Enrollment {
  private creds: Credentials | null = null;
  /** The saved credential was refused by the server: not taken again. */
  private refused = false;
  /** Enrolled again after a refusal during this run. */
  private reenrolled = false;
  private authed: SlipwayClient;

  constructor(
    private readonly settings: EnrollmentSettings,
    /** Where the credential is kept. */
    private readonly path: string,
    private readonly log: (msg: string) => void,
  ) {
    this.authed = new SlipwayClient({ server: settings.server });
  }

  /** The client, with this host's credential once it has one. */
  get client(): SlipwayClient {
    return this.authed;
  }

  get enrolled(): boolean {
    return this.creds !== null;
  }

  get hostId(): string | undefined {
    return this.creds?.hostId;
  }

  /** This host's token ('' before it enrolled): sent to the origin with each chunk request. */
  get token(): string {
    return this.creds?.token ?? '';
  }

  /** This host's name. */
  get name(): string {
    return this.settings.name;
  }

  /** Where the credential is kept (for messages that say what to do). */
  get credentialPath(): string {
    return this.path;
  }

  /**
   * Makes sure this host has a credential: the saved one when it was issued by this server for
   * this name (and was not refused), or a new one for the join token.
   */
  async ensure(): Promise<void> {
    if (this.creds) return;
    const { server, joinToken, name, region, labels, relay } = this.settings;
    const saved = this.refused ? undefined : await loadCredentials(this.path);
    if (saved && saved.server === server && saved.name === name) {
      this.creds = saved;
    } else {
      if (!joinToken) {
        // A credential for another server or name is not this one's: say so, not "none".
        const other = saved
          ? `its credential (${this.path}) was issued by ${saved.server} to host ${saved.name}, not by ${server} to ${name}`
          : `this host has no credential yet (${this.path})`;
        throw new SlipwayError(
          'UNAUTHENTICATED',
          `${other}: start the agent with --join-token-file <file> or SLIPWAY_JOIN_TOKEN`,
        );
      }
      let res: Awaited<ReturnType<SlipwayClient['enroll']>>;
      try {
        res = await this.authed.withToken(joinToken).enroll({ name, region, labels, relay });
      } catch (e) {
        throw enrollFailed(e, name, server);
      }
      this.creds = { server, hostId: res.hostId, token: res.token, name };
      await saveCredentials(this.path, this.creds);
      this.refused = false;
      this.log(`enrolled as ${name} (${region})`);
    }
    this.authed = this.authed.withToken(this.creds.token);
  }

  /**
   * The server refused this host's credential (401). Says whether to enroll again with the
   * join token: only when there is one, and once per run, so that two hosts under one name do
   * not take it from each other in turn. Afterwards `ensure` enrolls instead of taking the
   * saved credential again, which is the one refused.
   */
  refusedCredential(): boolean {
    if (!this.settings.joinToken || this.reenrolled) return false;
    this.reenrolled = true;
    this.refused = true;
    this.creds = null;
    return true;
  }
}

/** Enrolling failed: says why in words an operator can act on. */
function enrollFailed(e: unknown, name: string, server: string): Error {
  if (!(e instanceof SlipwayError)) return e as Error;
  const hint: Partial<Record<ErrorCode, string>> = {
    UNAUTHENTICATED: 'the join token is wrong or was replaced: pass the current one',
    CONFLICT: `another host is enrolled under the name ${name}: pick another --name, or ask an operator to remove that host`,
  };
  const why = hint[e.code];
  return new SlipwayError(
    e.code,
    `cannot enroll as ${name} at ${server}: ${e.message}${why ? `; ${why}` : ''}`,
    e.details,
    { cause: e },
  );
}
