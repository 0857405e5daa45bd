/** A route's `async` option: defaults, sizes with units, and errors that name file, line and field. */
import { loadConfigText } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/middleware/registry.js';

const load = (text: string) => loadConfigText(text, 'async.yaml', { registry: defaultRegistry, env: {} });

function errorOf(text: string): string {
  try {
    load(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('loaded without error');
}

const route = (async: string) =>
  `userLookup:\n  enabled: false\nroutes:\n  - name: hooks\n    upstream: http://127.0.0.1:1\n    async: ${async}\n`;

describe('async route config', () => {
  it('fills the defaults and reads sizes with units', () => {
    const config = load(route('{ maxBodySize: 64KiB, backoff: 250ms }'));
    expect(config.routes[0]?.async).toEqual({
      maxAttempts: 8,
      backoff: 250,
      maxBackoff: 300_000,
      attemptTimeout: 10_000,
      maxBodySize: 65_536,
      retention: 86_400_000,
      claimIdle: 60_000,
      queue: 10_000,
      keyPrefix: 'portico:tasks:',
    });
    expect(load(route('{ maxBodySize: 1MiB }')).routes[0]?.async?.maxBodySize).toBe(1_048_576);
    expect(load(route('{}')).routes[0]?.async?.statusPath).toBeUndefined();
    expect(
      load('userLookup:\n  enabled: false\nroutes:\n  - name: a\n    upstream: http://127.0.0.1:1\n').routes[0]?.async,
    ).toBeUndefined();
  });

  it('names the field of a bad value', () => {
    expect(errorOf(route('{ maxBodySize: 1 lightyear }'))).toContain(
      'async.yaml:6:27: routes[0].async.maxBodySize: a size in bytes',
    );
    expect(errorOf(route('{ attemptTimeout: 10s, claimIdle: 5s }'))).toContain(
      'routes[0].async.claimIdle: claimIdle must exceed attemptTimeout',
    );
    expect(errorOf(route('{ statusPath: /tasks/ }'))).toContain('routes[0].async.statusPath');
    expect(errorOf(route('{ retries: 3 }'))).toContain('unknown key "retries"');
  });

  it('refuses the removed workerPool.backoff with the field named', () => {
    expect(errorOf('workerPool:\n  backoff: 100ms\n')).toContain('async.yaml:2:3: workerPool.backoff: unknown key');
  });
});
