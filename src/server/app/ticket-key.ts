/**
 * The key that signs agents' peer tickets: one pair for every server on the database (so a
 * ticket from one replica is good with peers that learned the key from another), kept in the
 * database with its private half sealed under the server key.
 */
import { generateSigningKey } from '../../distribution/index.js';
import type { Store } from '../../store/index.js';
import { isSealed, seal, unseal } from '../sealing.js';

const NAME = 'peer-tickets';
const LABEL = 'peer-ticket signing key';

export interface KeyPair {
  privatePem: string;
  publicPem: string;
}

export class TicketKey {
  private pair: Promise<KeyPair> | null = null;

  constructor(
    private readonly store: Store,
    private readonly serverKey: Buffer,
  ) {}

  /** The key pair, read once (it never changes once stored); a failed read is tried again. */
  get(): Promise<KeyPair> {
    if (!this.pair) {
      const pair = this.load();
      pair.catch(() => {
        if (this.pair === pair) this.pair = null;
      });
      this.pair = pair;
    }
    return this.pair;
  }

  private async load(): Promise<KeyPair> {
    const stored = await this.store.keys.get(NAME, () => {
      const k = generateSigningKey();
      return { privatePem: seal(this.serverKey, LABEL, k.privatePem), publicPem: k.publicPem };
    });
    if (isSealed(stored.privatePem)) {
      return {
        privatePem: unseal(this.serverKey, LABEL, stored.privatePem),
        publicPem: stored.publicPem,
      };
    }
    // Stored in the clear by an older server: sealed now, on first read.
    await this.store.keys.replacePrivate(
      NAME,
      stored.privatePem,
      seal(this.serverKey, LABEL, stored.privatePem),
    );
    return stored;
  }
}
