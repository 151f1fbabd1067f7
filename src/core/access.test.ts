import { describe, expect, it } from 'vitest';
import { checkGrant, covers, describeGrant, type Grant } from './access.js';

const g = (
  role: Grant['role'],
  environment: string | null = null,
  service: string | null = null,
): Grant => ({
  role,
  environment,
  service,
});

describe('grants', () => {
  it('hold their role’s permissions only', () => {
    expect(covers(g('viewer'), 'read')).toBe(true);
    expect(covers(g('viewer'), 'deploy')).toBe(false);
    expect(covers(g('deployer'), 'build')).toBe(true);
    expect(covers(g('deployer'), 'approve')).toBe(false);
    expect(covers(g('approver'), 'approve')).toBe(true);
    expect(covers(g('approver'), 'deploy')).toBe(false);
    expect(covers(g('operator'), 'operate')).toBe(true);
    expect(covers(g('operator'), 'admin')).toBe(false);
    for (const p of ['read', 'fetch', 'build', 'deploy', 'approve', 'operate', 'admin'] as const)
      expect(covers(g('admin'), p)).toBe(true);
  });

  it('cover their environment and service, and nothing beside', () => {
    const staging = g('deployer', 'staging');
    expect(covers(staging, 'deploy', { environment: 'staging', service: 'pricing' })).toBe(true);
    expect(covers(staging, 'deploy', { environment: 'prod', service: 'pricing' })).toBe(false);
    const pricingProd = g('deployer', 'prod', 'pricing');
    expect(covers(pricingProd, 'deploy', { environment: 'prod', service: 'pricing' })).toBe(true);
    expect(covers(pricingProd, 'deploy', { environment: 'prod', service: 'scores' })).toBe(false);
    // An image belongs to a service, not an environment.
    expect(covers(pricingProd, 'build', { service: 'pricing' })).toBe(true);
    expect(covers(pricingProd, 'build', { service: 'scores' })).toBe(false);
    // Held on some scope: what is checked before the body is read.
    expect(covers(pricingProd, 'deploy')).toBe(true);
  });

  it('narrow only deployer and approver, and a service only within an environment', () => {
    expect(() => checkGrant(g('admin', 'prod'))).toThrow(/an admin grant covers every environment/);
    expect(() => checkGrant(g('viewer', null, 'x'))).toThrow(
      /a viewer grant covers every environment/,
    );
    expect(() => checkGrant(g('deployer', null, 'pricing'))).toThrow(/give --env with --service/);
    expect(() => checkGrant(g('approver', 'prod', 'pricing'))).not.toThrow();
    expect(describeGrant(g('approver', 'prod', 'pricing'))).toBe('approver on prod/pricing');
    expect(describeGrant(g('viewer'))).toBe('viewer on every environment');
  });
});
