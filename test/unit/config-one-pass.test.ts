/**
 * One `portico check` shows every problem: when the schema rejects part of a file, the cross-reference checks
 * (unknown middleware kind, unknown rate-limit policy, duplicate route name) still run on the rest.
 */
import { loadConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/config-error.js';
import { defaultRegistry } from '../../src/middleware/registry.js';

function issues(yaml: string): string[] {
  try {
    loadConfigText(yaml, 'p.yaml', { registry: defaultRegistry, env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((issue) => `${issue.path}: ${issue.message}`);
    throw err;
  }
  return [];
}

const POLICY = 'rateLimits:\n  per-client: { key: ip, limit: 10, window: 1m }\n';

test('a schema error and an unknown policy and kind elsewhere are reported together', () => {
  const found = issues(
    `${POLICY}middleware: [loging]\nroutes:\n  - name: a\n    upstream: http://127.0.0.1:1\n    timeout: soon\n    middleware:\n      - rateLimit: per-clinet\n`,
  );
  expect(found).toEqual([
    expect.stringMatching(/^routes\[0\]\.timeout: invalid duration "soon"/),
    expect.stringMatching(/^routes\[0\]\.middleware\[0\]\.rateLimit: unknown rate-limit policy "per-clinet"/),
    expect.stringMatching(/^middleware\[0\]: unknown middleware kind "loging"/),
  ]);
});

test('a route whose required upstream is invalid: the other routes are still cross-checked', () => {
  const found = issues(
    `${POLICY}routes:\n  - name: a\n    upstream: ftp://x\n  - name: b\n    upstream: http://127.0.0.1:1\n    middleware: [nope]\n`,
  );
  expect(found).toEqual([
    expect.stringMatching(/^routes\[0\]\.upstream: unsupported URL scheme/),
    expect.stringMatching(/^routes\[1\]\.middleware\[0\]: unknown middleware kind "nope"/),
  ]);
});

test('a policy with an invalid field is not reported as unknown where routes use it', () => {
  const found = issues(
    'rateLimits:\n  per-client: { key: ip, limit: lots, window: 1m }\nroutes:\n  - name: a\n    upstream: http://127.0.0.1:1\n    middleware:\n      - rateLimit: per-client\n      - rateLimit: other\n',
  );
  expect(found).toEqual([
    expect.stringMatching(/^rateLimits\.per-client\.limit: /),
    expect.stringMatching(/^routes\[0\]\.middleware\[1\]\.rateLimit: unknown rate-limit policy "other"/),
  ]);
});

test('no cross-check issue where the schema already flagged the same object (a short token is not "missing")', () => {
  const found = issues('server:\n  admin: 0.0.0.0:9901\n  adminToken: short\n');
  expect(found).toEqual([expect.stringMatching(/^server\.adminToken: must be at least 16 characters/)]);
});

test('an unknown key and an unknown kind together', () => {
  const found = issues('server:\n  listne: :8080\nmiddleware: [nope]\n');
  expect(found).toEqual([
    expect.stringMatching(/^server\.listne: unknown key "listne"/),
    expect.stringMatching(/^middleware\[0\]: unknown middleware kind "nope"/),
  ]);
});

test('a route with an invalid name keeps its chain in the checks', () => {
  const found = issues('routes:\n  - name: "a b"\n    upstream: http://127.0.0.1:1\n    middleware: [nope]\n');
  expect(found).toEqual([
    expect.stringMatching(/^routes\[0\]\.name: route names use/),
    expect.stringMatching(/^routes\[0\]\.middleware\[0\]: unknown middleware kind "nope"/),
  ]);
});
