/** The one check of who may call what: each route names the permission it needs. */
import { SlipwayError } from '../../core/index.js';
import type { Auth } from '../../api/index.js';
import type { Identity } from './identity.js';

/** Whether `who` holds the permission `need` of a route. */
export function isAllowed(who: Identity, need: Auth): boolean {
  switch (need) {
    case 'none':
      return true;
    case 'admin':
      return who.kind === 'user' && who.name === 'admin';
    case 'reader':
      return who.kind === 'user';
    case 'fetch':
      // An agent only for the images its goal names: the handler asks ImageAccess.
      return who.kind === 'user' || who.kind === 'agent';
    case 'agent':
      return who.kind === 'agent';
    case 'join':
      return who.kind === 'join';
  }
}

export function authorize(who: Identity, need: Auth): void {
  if (!isAllowed(who, need)) {
    const kind = who.kind === 'user' ? who.name : who.kind;
    throw new SlipwayError(
      'FORBIDDEN',
      `a ${kind} token may not call this endpoint (needs ${need})`,
    );
  }
}
