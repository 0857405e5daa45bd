/**
 * Secrets in the config stay out of `GET /config` and the logs, wherever the config puts them. Redaction is by
 * position (every header value the config sets, every query value and userinfo of every URL, resource and span
 * attributes) rather than by key name, so a marker secret goes into each place a secret can go and must come out
 * nowhere: not in `/config`, not in any line of a start, a proxied request (logged at debug, with headers) and a
 * reload.
 */
import { Writable } from 'node:stream';
import { loadConfigText } from '../../src/config/load.js';
import { startPortico } from '../../src/main.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { request } from '../helpers/http.js';
import { closedPort } from '../helpers/upstream.js';
import { stopAll, upstream } from './support.js';

afterAll(stopAll);

const MARK = 'S3KRIT';

function yamlWithSecrets(upstreamPort: number, closed: number): string {
  const headers = (side: string) =>
    [
      `      - headers:`,
      `          request: { set: { authorization: "Bearer ${MARK}-${side}-auth", x-api-key: ${MARK}-${side}-key, cookie: "sid=${MARK}-${side}-cookie" } }`,
      `          response: { set: { x-debug: ${MARK}-${side}-resp } }`,
    ].join('\n');
  return [
    'server:',
    '  listen: 127.0.0.1:0',
    '  admin: 127.0.0.1:0',
    `  adminToken: ${MARK}-admin-token-0123456789`,
    'redis:',
    `  url: redis://portico:${MARK}-redis-pass@127.0.0.1:${closed}/0?password=${MARK}-redis-query`,
    'database:',
    `  url: postgres://portico:${MARK}-db-pass@127.0.0.1:${closed}/test?api_key=${MARK}-db-query`,
    'telemetry:',
    '  logs: { level: debug }',
    '  resourceAttributes:',
    `    deployment.key: ${MARK}-resource`,
    '  traces:',
    `    endpoint: http://collector:${MARK}-otlp-pass@127.0.0.1:${closed}/v1/traces?token=${MARK}-otlp-query#${MARK}-frag`,
    'middleware:',
    '  - logging',
    `  - tracing: { attributes: { tenant.key: ${MARK}-span } }`,
    headers('global').replace(/^ {4}/gm, ''),
    'routes:',
    '  - name: api',
    '    match: { pathPrefix: /api }',
    `    upstream: http://${MARK}-token-as-user@127.0.0.1:${upstreamPort}/?key=${MARK}-upstream-query`,
    `    mirror: { upstream: "http://127.0.0.1:${closed}/shadow?token=${MARK}-mirror-query" }`,
    '    middleware:',
    headers('route'),
    'userLookup:',
    '  path: /users/:id',
    '  middleware:',
    headers('lookup').replace(/^ {4}/gm, '  '),
    '',
  ].join('\n');
}

describe('secrets in the config', () => {
  it('reach neither GET /config nor any log line of a start, a request and a reload', async () => {
    const up = await upstream();
    const closed = await closedPort();
    const yaml = yamlWithSecrets(up.port, closed);
    const config = loadConfigText(yaml, 'secrets.yaml', { registry: defaultRegistry, env: {} });
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const { logger } = createLogger(config.telemetry, { stream });
    const portico = await startPortico({ config, logger });
    try {
      const res = await request(`${portico.proxyUrl}/api/x?q=1`, { headers: { 'user-agent': 'secrets-test' } });
      expect(res.status).toBe(200);
      // The control: the secrets are in force where they belong.
      expect(res.headers['x-debug']).toMatch(new RegExp(`^${MARK}-[a-z]+-resp$`));
      expect(up.received.at(-1)?.headers['x-api-key']).toBe(`${MARK}-route-key`);

      await portico.reload(loadConfigText(yaml, 'secrets.yaml', { registry: defaultRegistry, env: {} }));
      const shown = await request(`${portico.adminUrl}/config`, {
        headers: { authorization: `Bearer ${MARK}-admin-token-0123456789` },
      });
      expect(shown.status).toBe(200);
      expect(shown.body).toContain('"name":"api"');
      expect(shown.body).toContain(`127.0.0.1:${up.port}`); // redacted, not removed
      expect(shown.body.match(new RegExp(`${MARK}[\\w-]*`, 'g')) ?? []).toEqual([]);
    } finally {
      await portico.shutdown();
    }
    const text = lines.join('');
    expect(text).toContain('request completed'); // the request's line was written, with its headers
    expect(text).toContain('secrets-test');
    expect(text).toContain('config reloaded');
    expect(text).toContain('user database unavailable'); // the database at a closed port: its error is logged too
    expect(text).toContain('"x-api-key":"[Redacted]"');
    expect(text.match(new RegExp(`${MARK}[\\w-]*`, 'g')) ?? []).toEqual([]);
  });
});

describe('secrets in a config that is refused', () => {
  it.each([
    ['a bad scheme', `ftp://user:${MARK}-pass@127.0.0.1/?token=${MARK}-q`],
    ['an unparseable URL', `http://user:${MARK}-pass@[bad/x?token=${MARK}-q`],
  ])('%s: the error (logged on a rejected reload, printed by check) does not echo them', (_name, url) => {
    let message = '';
    try {
      loadConfigText(`routes:\n  - name: a\n    upstream: "${url}"\n`, 'bad.yaml', {
        registry: defaultRegistry,
        env: {},
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^bad\.yaml:3:\d+: routes\[0\]\.upstream: /);
    expect(message).not.toContain(MARK);
  });
});
