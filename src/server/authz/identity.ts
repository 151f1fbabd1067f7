/** Who is acting: every operation takes one, and every event records it. */
import { ADMIN_GRANT, type Grant } from '../../core/index.js';

export type Identity =
  /**
   * A person or a machine account through one of its API tokens, holding that token's grant
   * (the first-start token is the built-in `admin` user's, and holds admin everywhere).
   */
  | { kind: 'user'; name: string; tokenId: string; grant: Grant }
  /** An enrolled host, through its own credential. */
  | { kind: 'agent'; hostId: string }
  /** Someone holding the join token: may enroll a host, nothing else. */
  | { kind: 'join' }
  /** The control plane itself (the orchestrator, housekeeping). */
  | { kind: 'system'; name: string }
  | { kind: 'anonymous' };

/** The built-in user that the first-start admin token belongs to. */
export const ADMIN: Identity = {
  kind: 'user',
  name: 'admin',
  tokenId: 'admin',
  grant: ADMIN_GRANT,
};
export const ORCHESTRATOR: Identity = { kind: 'system', name: 'orchestrator' };

/** How an identity is written in the event log: `user:admin`, `agent:<host id>`, `system:…`. */
export function actorOf(who: Identity): string {
  switch (who.kind) {
    case 'user':
    case 'system':
      return `${who.kind}:${who.name}`;
    case 'agent':
      return `agent:${who.hostId}`;
    case 'join':
    case 'anonymous':
      return who.kind;
  }
}
