import { describe, expect, it } from 'vitest';
import { ARGS_KEPT_BYTES, REDACTED, redactArgs } from './redact.js';

describe('what the audit trail keeps of a call’s arguments', () => {
  it('replaces secrets wherever they are, and environment values, but not their names', () => {
    expect(
      redactArgs({
        body: {
          token: 'slw_user_x',
          nested: [{ password: 'p', clientSecret: 's', name: 'kept' }],
          services: { web: { env: { DB_URL: 'postgres://u:p@db', LOG: 'info' }, run: 'serve' } },
        },
      }),
    ).toEqual({
      body: {
        token: REDACTED,
        nested: [{ password: REDACTED, clientSecret: REDACTED, name: 'kept' }],
        services: { web: { env: { DB_URL: REDACTED, LOG: REDACTED }, run: 'serve' } },
      },
    });
  });

  it('keeps a large body as its size and hash, and a NUL as something a database stores', () => {
    const big = redactArgs({ body: { manifest: 'x'.repeat(ARGS_KEPT_BYTES) } }) as Record<
      string,
      unknown
    >;
    expect(big).toEqual({
      omitted: 'too large to keep whole',
      bytes: expect.any(Number),
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(redactArgs({ q: 'a\u0000b' })).toEqual({ q: 'a\ufffdb' });
  });
});
