/** Pure pieces of the user lookup: id parsing, SQL text, TTL jitter, Cache-Status, If-None-Match, route matching. */
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { ttlWithJitter } from '../../src/users/cache.js';
import { cacheStatus, notModified, userLookupRoute } from '../../src/users/http.js';
import type { LookupResult, UserService } from '../../src/users/service.js';
import { userSql } from '../../src/users/sql.js';
import { throttledWarn } from '../../src/users/throttled-log.js';
import { entryOf, parseUserId, requireUserId } from '../../src/users/user.js';

describe('user ids', () => {
  it.each(['1', '42', '9007199254740991'])('accepts %s', (raw) => expect(parseUserId(raw)).toBe(raw));
  it.each(['', '0', '007', '-1', '+1', '1.5', '1e3', ' 1', 'abc', '9007199254740992', '%31', '1'.repeat(17)])(
    'rejects %j',
    (raw) => expect(parseUserId(raw)).toBeUndefined(),
  );
  it('requireUserId throws the catalogued 400', () => {
    expect(() => requireUserId('x')).toThrow(
      expect.objectContaining({ code: 'PORTICO_INVALID_USER_ID', status: 400 }) as Error,
    );
  });
});

describe('user entries', () => {
  it('serialises in a fixed field order with a strong ETag that follows the content', () => {
    const ada = entryOf({ id: 1, name: 'Ada', email: 'ada@example.com', createdAt: '2024-01-01T00:00:00.000Z' });
    expect(ada.json).toBe('{"id":1,"name":"Ada","email":"ada@example.com","createdAt":"2024-01-01T00:00:00.000Z"}');
    expect(ada.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(
      entryOf({ id: 1, name: 'Grace', email: 'ada@example.com', createdAt: '2024-01-01T00:00:00.000Z' }).etag,
    ).not.toBe(ada.etag);
  });
});

describe('user SQL', () => {
  it('quotes configured names and passes the id as a parameter', () => {
    const sql = userSql({
      schema: 'crm',
      table: 'People',
      columns: { id: 'person_id', name: 'full_name', email: 'mail', createdAt: 'inserted' },
    });
    expect(sql.select).toBe(
      'SELECT "full_name" AS name, "mail" AS email, "inserted" AS created_at FROM "crm"."People" WHERE "person_id" = $1',
    );
    expect(sql.target).toBe('crm.People');
    expect(sql.migrations.map((m) => m.version)).toEqual([1]);
    expect(sql.migrations[0]?.sql).toContain(
      'CREATE TABLE IF NOT EXISTS "crm"."People" ("person_id" bigint PRIMARY KEY',
    );
  });

  it('refuses a table name that is not a plain identifier at config load', () => {
    const parsed = configSchema.safeParse({ userLookup: { table: 'users; DROP TABLE x' } });
    expect(parsed.success).toBe(false);
  });

  it('has defaults for every new key', () => {
    const { userLookup, database } = configSchema.parse({});
    expect(userLookup).toMatchObject({ schema: 'public', table: 'users', retryAfter: 5000 });
    expect(userLookup.cache).toMatchObject({
      keyPrefix: 'portico:user:',
      fillTimeout: 5000,
      errorLogInterval: 30_000,
      invalidationChannel: '',
    });
    expect(database).toMatchObject({ migrate: true, embeddedDataDir: '' });
  });
});

describe('TTL jitter', () => {
  it('adds between 0 and jitter × ttl', () => {
    expect(ttlWithJitter(1000, 0.1, () => 0)).toBe(1000);
    expect(ttlWithJitter(1000, 0.1, () => 0.999)).toBe(1100);
    expect(ttlWithJitter(1000, 0, () => 0.5)).toBe(1000);
  });
});

describe('Cache-Status (RFC 9211)', () => {
  const result = (outcome: LookupResult['outcome'], stored: boolean, collapsed: boolean): LookupResult => ({
    value: null,
    outcome,
    stored,
    collapsed,
  });
  it.each([
    [result('hit', false, false), 'portico; hit'],
    [result('miss', true, false), 'portico; fwd=miss; stored'],
    [result('miss', true, true), 'portico; fwd=miss; stored; collapsed'],
    [result('miss', false, false), 'portico; fwd=miss'],
    [result('bypass', false, false), 'portico; fwd=bypass'],
    [result('error', false, false), 'portico; fwd=miss; detail=cache-error'],
  ])('%j → %s', (input, expected) => expect(cacheStatus(input)).toBe(expected));
});

describe('If-None-Match', () => {
  const etag = '"abc"';
  it.each([
    [undefined, false],
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ['*', true],
    ['"abcd"', false],
    ['abc', false],
  ])('%j → %s', (header, expected) => expect(notModified(header, etag)).toBe(expected));
});

describe('route matching', () => {
  const service: UserService = {
    lookup: () => Promise.reject(new Error('unused')),
    invalidate: async () => undefined,
    close: async () => undefined,
  };
  const route = userLookupRoute(configSchema.parse({ userLookup: { path: '/v1/users/:id' } }).userLookup, service);
  it.each([
    ['GET', '/v1/users/1', true],
    ['HEAD', '/v1/users/abc', true],
    ['POST', '/v1/users/1', false],
    ['DELETE', '/v1/users/1', false],
    ['GET', '/v1/users/', false],
    ['GET', '/v1/users/1/orders', false],
    ['GET', '/v1/users', false],
    ['GET', '/users/1', false],
  ])('%s %s → %s', (method, path, expected) => expect(route.matches(method, path)).toBe(expected));
  it('is named userLookup and carries the configured middleware', () => {
    expect(route.name).toBe('userLookup');
    expect(route.middleware).toEqual([]);
  });
});

describe('throttled warnings', () => {
  it('logs the first failure, folds the rest into the next line after the interval', () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    let now = 0;
    const warn = throttledWarn(logger, 'cache down', 1000, () => now);
    for (let i = 0; i < 10; i += 1) warn(new Error('boom'));
    now = 1000;
    warn(new Error('boom'));
    expect(lines.map((line) => line.suppressed)).toEqual([0, 9]);
  });
});
