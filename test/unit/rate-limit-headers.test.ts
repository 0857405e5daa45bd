import {
  appendMember,
  legacyReset,
  policyMember,
  quoted,
  rateLimitValue,
  resetSeconds,
  retryAfterSeconds,
} from '../../src/middleware/rate-limit/headers.js';

describe('rate-limit header values (draft-ietf-httpapi-ratelimit-headers-11)', () => {
  test('RateLimit-Policy member: quoted name, quota and window in seconds', () => {
    expect(policyMember('per-client', 100, 60_000)).toBe('"per-client";q=100;w=60');
  });

  test('RateLimit-Policy lists one member per applied policy', () => {
    const list = appendMember(appendMember('', '"a";q=1;w=1'), '"b";q=2;w=60');
    expect(list).toBe('"a";q=1;w=1, "b";q=2;w=60');
  });

  test('RateLimit: remaining never negative, reset rounded up to whole seconds', () => {
    expect(rateLimitValue('"per-client"', 42, 16_001)).toBe('"per-client";r=42;t=17');
    expect(rateLimitValue('"p"', -3, 0)).toBe('"p";r=0;t=0');
    expect(rateLimitValue('"p"', 0, -5)).toBe('"p";r=0;t=0');
  });

  test('Retry-After is at least one second', () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(resetSeconds(59_000)).toBe(59);
  });

  test('legacy X-RateLimit-Reset is a Unix time in seconds', () => {
    expect(legacyReset(1500, 1_700_000_000_000)).toBe(1_700_000_002);
    expect(legacyReset(-10, 1_700_000_000_000)).toBe(1_700_000_000);
  });

  test('names are sf-strings: quotes and backslashes escaped', () => {
    expect(quoted('a"b\\c')).toBe('"a\\"b\\\\c"');
  });
});
