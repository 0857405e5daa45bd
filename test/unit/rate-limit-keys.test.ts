import type { IncomingMessage } from 'node:http';
import { ANONYMOUS, MAX_CLIENT_LENGTH, compileKey, shortHash } from '../../src/middleware/rate-limit/keys.js';

function fakeRequest(fields: {
  clientIp?: string;
  route?: string;
  headers?: Record<string, string | string[]>;
}): IncomingMessage {
  return {
    headers: fields.headers ?? {},
    portico: { clientIp: fields.clientIp ?? '203.0.113.7', route: fields.route ?? 'orders' },
  } as unknown as IncomingMessage;
}

describe('rate-limit keys', () => {
  test('ip key is the client ip inside a {policy:client} hash tag, never the port', () => {
    const key = compileKey('per-client', 'ip', 'anonymous');
    expect(key(fakeRequest({ clientIp: '203.0.113.7' }))).toBe('{per-client:203.0.113.7}');
    expect(key(fakeRequest({ clientIp: '2001:db8::1' }))).toBe('{per-client:2001:db8::1}');
  });

  test('route key uses the matched route name', () => {
    expect(compileKey('per-route', 'route', 'anonymous')(fakeRequest({ route: 'users' }))).toBe('{per-route:users}');
  });

  test('header values are hashed, so credentials never appear in Redis key names', () => {
    const key = compileKey('per-key', 'header:X-Api-Key', 'anonymous');
    const built = key(fakeRequest({ headers: { 'x-api-key': 'secret-token-123' } }));
    expect(built).toBe(`{per-key:${shortHash('secret-token-123')}}`);
    expect(built).not.toContain('secret');
    expect(shortHash('secret-token-123')).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  test('a missing header counts under the shared anonymous key, or rejects when the policy says so', () => {
    expect(compileKey('p', 'header:X-Api-Key', 'anonymous')(fakeRequest({}))).toBe(`{p:${ANONYMOUS}}`);
    expect(compileKey('p', 'header:X-Api-Key', 'anonymous')(fakeRequest({ headers: { 'x-api-key': '' } }))).toBe(
      `{p:${ANONYMOUS}}`,
    );
    expect(compileKey('p', 'header:X-Api-Key', 'reject')(fakeRequest({}))).toBeUndefined();
  });

  test('no header value can collide with the anonymous marker', () => {
    const key = compileKey('p', 'header:X-Api-Key', 'anonymous');
    expect(key(fakeRequest({ headers: { 'x-api-key': ANONYMOUS } }))).not.toBe(key(fakeRequest({})));
  });

  test('list keys combine their parts in order', () => {
    const key = compileKey('combo', ['ip', 'route', 'header:X-Tenant'], 'anonymous');
    expect(key(fakeRequest({ clientIp: '10.1.2.3', route: 'orders', headers: { 'x-tenant': 'acme' } }))).toBe(
      `{combo:10.1.2.3|orders|${shortHash('acme')}}`,
    );
    expect(compileKey('combo', ['ip', 'header:X-Tenant'], 'reject')(fakeRequest({}))).toBeUndefined();
  });

  test('distinct clients get distinct keys; repeated header values are joined before hashing', () => {
    const key = compileKey('p', 'header:X-Api-Key', 'anonymous');
    expect(key(fakeRequest({ headers: { 'x-api-key': 'a' } }))).not.toBe(
      key(fakeRequest({ headers: { 'x-api-key': 'b' } })),
    );
    expect(key(fakeRequest({ headers: { 'x-api-key': ['a', 'b'] } }))).toBe(`{p:${shortHash('a,b')}}`);
  });

  test('long client parts are hashed, keeping the hash tag', () => {
    const longRoute = 'r'.repeat(MAX_CLIENT_LENGTH);
    const built = compileKey(
      'p',
      ['ip', 'route'],
      'anonymous',
    )(fakeRequest({ clientIp: '10.0.0.1', route: longRoute })) as string;
    expect(built).toBe(`{p:${shortHash(`10.0.0.1|${longRoute}`)}}`);
    expect(built.length).toBeLessThan(40);
  });

  test('a request without context (outside the edge) still gets a key', () => {
    const key = compileKey('p', ['ip', 'route'], 'anonymous');
    expect(key({ headers: {} } as IncomingMessage)).toBe('{p:-|-}');
  });
});
