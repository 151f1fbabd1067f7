/**
 * This host's standing with the control plane: the credential it enrolled with, kept in the
 * data dir, and the client that carries it.
 */
import { isSlipwayError, SlipwayError, type AgentSettings } from '../core/index.js';
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
  private saidConflict = false;
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

  /**
   * Makes sure this host has a credential: the saved one when it was issued by this server for
   * this name, or a new one for the join token.
   */
  async ensure(): Promise<void> {
    if (this.creds) return;
    const { server, joinToken, name, region, labels, relay } = this.settings;
    const saved = await loadCredentials(this.path);
    if (saved && saved.server === server && saved.name === name) {
      this.creds = saved;
    } else {
      if (!joinToken) {
        throw new SlipwayError(
          'UNAUTHENTICATED',
          'this host has no credential yet: pass --join-token',
        );
      }
      const res = await this.authed
        .withToken(joinToken)
        .enroll({ name, region, labels, relay })
        .catch((e: unknown) => {
          // Another host holds this name (or this host lost its credential): only an operator
          // can settle that, so say what to do, once.
          if (isSlipwayError(e, 'CONFLICT') && !this.saidConflict) {
            this.saidConflict = true;
            this.log(`cannot enroll: ${(e as Error).message}`);
          }
          throw e;
        });
      this.creds = { server, hostId: res.hostId, token: res.token, name };
      await saveCredentials(this.path, this.creds);
      this.log(`enrolled as ${name} (${region})`);
    }
    this.authed = this.authed.withToken(this.creds.token);
  }

  /**
   * The server no longer knows this host's credential: drops it so that the next `ensure`
   * enrolls again. Only with a join token to enroll with; says whether it did.
   */
  forget(): boolean {
    if (!this.settings.joinToken) return false;
    this.creds = null;
    return true;
  }
}
