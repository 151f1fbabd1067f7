/**
 * The one check of who may call what: each route names the permission it needs and, for a
 * scoped one, what it acts on (`TargetOf`); a user's token holds one grant (`core/access.ts`).
 */
import { SlipwayError, article, covers, describeGrant, type Target } from '../../core/index.js';
import type { Auth } from '../../api/index.js';
import type { Identity } from './identity.js';

/**
 * Whether `who` holds the permission `need`, on `target` when given (without one: on some
 * scope, the check made before the body is read).
 */
export function isAllowed(who: Identity, need: Auth, target?: Target): boolean {
  switch (need) {
    case 'none':
      return true;
    case 'join':
      return who.kind === 'join';
    case 'agent':
      return who.kind === 'agent';
    default:
      // An agent fetches only the images its goal names: the handler asks ImageAccess.
      if (need === 'fetch' && who.kind === 'agent') return true;
      return who.kind === 'user' && covers(who.grant, need, target);
  }
}

export function authorize(who: Identity, need: Auth, target?: Target): void {
  if (isAllowed(who, need, target)) return;
  if (who.kind !== 'user') {
    throw new SlipwayError(
      'FORBIDDEN',
      `${article(who.kind)} ${who.kind} token may not call this endpoint (needs ${need})`,
    );
  }
  const on =
    target && (target.environment ?? target.service) !== undefined
      ? ` on ${describeTarget(target)}`
      : '';
  throw new SlipwayError(
    'FORBIDDEN',
    `token ${who.tokenId} of ${who.name} (${describeGrant(who.grant)}) does not hold the ${need} permission${on}`,
    { need, target: target ?? null, grant: who.grant },
  );
}

function describeTarget(t: Target): string {
  if (t.environment === undefined) return `service ${t.service}`;
  return t.service === undefined ? `environment ${t.environment}` : `${t.environment}/${t.service}`;
}
