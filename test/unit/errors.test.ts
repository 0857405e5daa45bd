import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, PorticoError, problemBody, wrapError } from '../../src/errors.js';

describe('error catalogue', () => {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

  it.each(Object.keys(ERRORS))('documents %s in the README', (code) => {
    expect(readme).toContain(`\`${code}\``);
  });

  it('renders problem+json without internals', () => {
    const body: unknown = JSON.parse(problemBody('PORTICO_UPSTREAM_TIMEOUT', { requestId: 'r1', route: 'orders' }));
    expect(body).toEqual({
      type: 'https://portico.dev/problems/upstream-timeout',
      title: 'Upstream did not answer in time',
      status: 504,
      code: 'PORTICO_UPSTREAM_TIMEOUT',
      route: 'orders',
      requestId: 'r1',
    });
  });

  it('wraps errors keeping the cause chain and adding context', () => {
    const root = new Error('connect ECONNREFUSED 10.0.0.5:5432');
    const inner = wrapError(root, 'PORTICO_DATABASE_UNAVAILABLE', 'query users', { userId: 7 });
    const outer = wrapError(inner, 'PORTICO_INTERNAL', 'lookup', { route: 'userLookup' });
    expect(outer.code).toBe('PORTICO_DATABASE_UNAVAILABLE');
    expect(outer.context).toEqual({ userId: 7, route: 'userLookup' });
    expect(outer.cause).toBe(inner);
    expect((outer.cause as PorticoError).cause).toBe(root);
    expect(outer.status).toBe(503);
  });
});
