/**
 * Peer tickets: the control plane signs, for each agent, who it is and which region it is in;
 * peers check the signature with the control plane's public key, so an agent serves chunks only
 * to enrolled agents of its own region, without asking the control plane on every request.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { SlipwayError } from '../core/index.js';

export interface PeerClaims {
  hostId: string;
  region: string;
  /** Expiry, milliseconds since the epoch. */
  exp: number;
}

/** A new ed25519 key pair, PEM encoded. */
export function generateSigningKey(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** `<claims as base64url JSON>.<ed25519 signature, base64url>` */
export function signTicket(privatePem: string, claims: PeerClaims): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const sig = sign(null, Buffer.from(body), keyOf(privatePem, createPrivateKey)).toString(
    'base64url',
  );
  return `${body}.${sig}`;
}

/** The ticket's claims when its signature holds and it has not expired; throws otherwise. */
export function verifyTicket(publicPem: string, ticket: string, now = Date.now()): PeerClaims {
  const known = verified.get(ticket);
  if (known && known.publicPem === publicPem) {
    if (known.claims.exp < now) throw refused('peer ticket expired');
    return known.claims;
  }
  const claims = checkTicket(publicPem, ticket, now);
  if (verified.size >= VERIFIED_MAX) verified.clear();
  verified.set(ticket, { publicPem, claims });
  return claims;
}

/*
 * Parsing a PEM key and checking a signature cost far more than serving a small request; a peer
 * answers the same few tickets (one per peer, renewed every few minutes) many times a second.
 */
const keys = new Map<string, KeyObject>();
const verified = new Map<string, { publicPem: string; claims: PeerClaims }>();
const VERIFIED_MAX = 4096;

function keyOf(pem: string, parse: (pem: string) => KeyObject): KeyObject {
  let key = keys.get(pem);
  if (!key) {
    if (keys.size >= 16) keys.clear();
    key = parse(pem);
    keys.set(pem, key);
  }
  return key;
}

function checkTicket(publicPem: string, ticket: string, now: number): PeerClaims {
  const [body, sig, extra] = ticket.split('.');
  if (!body || !sig || extra !== undefined) throw refused('malformed peer ticket');
  let ok = false;
  try {
    ok = verify(
      null,
      Buffer.from(body),
      keyOf(publicPem, createPublicKey),
      Buffer.from(sig, 'base64url'),
    );
  } catch {
    ok = false;
  }
  if (!ok) throw refused('peer ticket signature does not verify');
  let claims: Partial<PeerClaims>;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Partial<PeerClaims>;
  } catch {
    throw refused('malformed peer ticket');
  }
  if (
    typeof claims.hostId !== 'string' ||
    typeof claims.region !== 'string' ||
    typeof claims.exp !== 'number'
  ) {
    throw refused('malformed peer ticket');
  }
  if (claims.exp < now) throw refused('peer ticket expired');
  return { hostId: claims.hostId, region: claims.region, exp: claims.exp };
}

function refused(message: string): SlipwayError {
  return new SlipwayError('UNAUTHENTICATED', message);
}
