/**
 * Who may do what: roles, the permissions each holds, and the scope a grant covers. Pure: the
 * server's one check (`server/authz/authorize.ts`) asks `covers` with what a route needs and
 * what it acts on.
 */
import { SlipwayError } from './errors.js';

/** What a person's or machine account's token may be granted. */
export const ROLES = ['viewer', 'deployer', 'approver', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a route of the API needs of a user's token: `read` anything but secrets; `fetch` an
 * image's manifest and chunks; `build` images (upload chunks, register, tag); `deploy`, stage,
 * roll back and cancel; `approve` deployments; `operate` on hosts; `break-glass`: start a
 * deployment outside its environment's windows or in a freeze; `admin`: users, tokens, the
 * service map, the origin.
 */
export const PERMISSIONS = [
  'read',
  'fetch',
  'build',
  'deploy',
  'approve',
  'operate',
  'break-glass',
  'admin',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  viewer: ['read', 'fetch'],
  deployer: ['read', 'fetch', 'build', 'deploy'],
  approver: ['read', 'fetch', 'approve'],
  operator: ['read', 'fetch', 'operate'],
  admin: PERMISSIONS,
};

/** One role on one scope: every environment, one environment, or one service in one. */
export interface Grant {
  role: Role;
  /** null: every environment. */
  environment: string | null;
  /** null: every service (of the environment). */
  service: string | null;
}

/** The admin role everywhere: what the first-start token holds. */
export const ADMIN_GRANT: Grant = { role: 'admin', environment: null, service: null };

/**
 * What a call acts on, as far as the route knows: a deployment's environment and service, an
 * image's service; neither for calls that act on nothing scoped (uploading a chunk).
 */
export interface Target {
  environment?: string;
  service?: string;
}

/** Roles whose grants may be narrowed to an environment or a service. */
const SCOPED_ROLES: readonly Role[] = ['deployer', 'approver'];

/** Whether the grant holds `need` on `target`. An unnamed part of the target is not checked. */
export function covers(grant: Grant, need: Permission, target: Target = {}): boolean {
  if (!ROLE_PERMISSIONS[grant.role].includes(need)) return false;
  if (grant.environment !== null && target.environment !== undefined)
    if (grant.environment !== target.environment) return false;
  if (grant.service !== null && target.service !== undefined)
    if (grant.service !== target.service) return false;
  return true;
}

/** How a grant is written: `deployer on prod/pricing`, `admin on everything`. */
export function describeGrant(g: Grant): string {
  if (g.environment === null) return `${g.role} on every environment`;
  return `${g.role} on ${g.environment}${g.service === null ? '' : `/${g.service}`}`;
}

/** Checks a grant about to be given; throws INVALID saying what is wrong. */
export function checkGrant(g: Grant): void {
  if (!(ROLES as readonly string[]).includes(g.role)) {
    throw new SlipwayError(
      'INVALID',
      `unknown role ${JSON.stringify(g.role)}: one of ${ROLES.join(', ')}`,
    );
  }
  if ((g.environment !== null || g.service !== null) && !SCOPED_ROLES.includes(g.role)) {
    throw new SlipwayError(
      'INVALID',
      `${article(g.role)} ${g.role} grant covers every environment: --env and --service narrow only ${SCOPED_ROLES.join(' and ')} grants`,
    );
  }
  if (g.service !== null && g.environment === null) {
    throw new SlipwayError(
      'INVALID',
      'a grant on one service is in one environment: give --env with --service',
    );
  }
}

/** `a` or `an`, as the word it goes before needs (the words of roles and identities). */
export function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}
