/**
 * The admin port's edges: a malformed id is the caller's error (400), and every 500 logs its cause.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Writable } from 'node:stream';
import { createAdminServer, type AdminOptions } from '../../src/admin/server.js';
import { createPrometheusMetrics } from '../../src/admin/prometheus.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { testConfig } from '../helpers/portico.js';
import { request, waitFor } from '../helpers/http.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  }
});

async function admin(
  overrides: Partial<AdminOptions> = {},
  yaml = 'routes: []\n',
): Promise<{ url: string; lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as never);
      done();
    },
  });
  const config = testConfig(yaml);
  const server = createAdminServer({
    config: () => config,
    configHash: () => 'h',
    draining: () => false,
    metrics: createPrometheusMetrics(),
    readiness: () => [],
    logger: pino({ level: 'debug' }, stream),
    ...overrides,
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lines };
}

describe('admin: user cache invalidation', () => {
  it('DELETE /cache/users/%ZZ is a 400, not a 500', async () => {
    const seen: string[] = [];
    const { url } = await admin({ invalidateUser: async (id) => void seen.push(id) });
    const res = await request(`${url}/cache/users/%ZZ`, { method: 'DELETE' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'PORTICO_INVALID_USER_ID' });
    expect(seen).toEqual([]);
    expect((await request(`${url}/cache/users/%34%32`, { method: 'DELETE' })).status).toBe(204);
    expect(seen).toEqual(['42']);
  });

  it('a 500 logs its cause, and the answer carries none of it', async () => {
    const { url, lines } = await admin({
      invalidateUser: () => Promise.reject(new Error('invalidate exploded', { cause: new Error('deep cause xyz') })),
    });
    const res = await request(`${url}/cache/users/7`, { method: 'DELETE' });
    expect(res.status).toBe(500);
    expect(res.body).not.toContain('exploded');
    await waitFor(() => lines.some((line) => line.path === '/cache/users/7'), { message: 'the access line' });
    const errors = lines.filter((line) => line.level === 50);
    expect(JSON.stringify(errors)).toContain('deep cause xyz');
    expect(errors).toEqual([
      expect.objectContaining({
        msg: 'admin request failed',
        reqId: res.headers['x-request-id'],
        method: 'DELETE',
        path: '/cache/users/7',
        route: 'admin',
        status: 500,
        err: expect.objectContaining({ message: expect.stringContaining('invalidate exploded') as unknown }) as unknown,
      }),
    ]);
    // pino-http's own fields stay off the line: it uses the proxy access log's names
    for (const key of ['req', 'res', 'responseTime']) expect(errors[0]).not.toHaveProperty(key);
  });

  it('a 503 that is an answer (readiness while draining) is not logged as a failure', async () => {
    const { url, lines } = await admin({ draining: () => true });
    expect((await request(`${url}/readyz`)).status).toBe(503);
    const line = await waitFor(() => lines.find((entry) => entry.path === '/readyz'), { message: 'the access line' });
    expect(line).toMatchObject({ msg: 'admin request completed', route: 'admin', status: 503 });
    expect(line).not.toHaveProperty('err');
  });
});

describe('admin: the access line and the process logger', () => {
  it('follows telemetry.logs.levelFormat and its redaction, as every other line does', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const telemetry = telemetrySchema.parse({ serviceName: 'admin-test', logs: { levelFormat: 'label' } });
    const { logger } = createLogger(telemetry, {
      stream: { write: (text: string) => void lines.push(JSON.parse(text) as never) },
    });
    const { url } = await admin({ logger });
    const res = await request(`${url}/config?token=query-secret`, { headers: { authorization: 'Bearer none' } });
    expect(res.status).toBe(200);
    const line = await waitFor(() => lines.find((entry) => entry.component === 'admin'), { message: 'the line' });
    expect(line).toMatchObject({
      level: 'info',
      service: 'admin-test',
      msg: 'admin request completed',
      reqId: res.headers['x-request-id'],
      path: '/config',
      route: 'admin',
    });
    expect(JSON.stringify(lines)).not.toMatch(/query-secret|Bearer none/);
  });
});

describe('admin: which binds count as loopback (no token needed)', () => {
  const load = (admin: string) => () => testConfig(`server:\n  listen: 127.0.0.1:0\n  admin: "${admin}"\nroutes: []\n`);

  it.each(['127.attacker.example:9901', '127.0.0.1.nip.io:9901', 'localhost.attacker.example:9901', '0.0.0.0:9901'])(
    '%s needs a token',
    (admin) => {
      expect(load(admin)).toThrow(/admin binds beyond loopback/);
    },
  );

  it.each(['127.0.0.1:0', '127.0.0.2:0', '[::1]:0', '[0:0:0:0:0:0:0:1]:0', '[::ffff:127.0.0.1]:0', 'localhost:0'])(
    '%s does not',
    (admin) => {
      expect(load(admin)().server.admin.port).toBe(0);
    },
  );
});

describe('admin: probes and the bearer token', () => {
  const TOKEN = 'a-long-admin-token-0123456789';
  const yaml = `server:\n  listen: 127.0.0.1:0\n  admin: 0.0.0.0:0\n  adminToken: ${TOKEN}\nroutes: []\n`;

  it('HEAD on the probes answers like GET, without the token', async () => {
    const { url } = await admin({}, yaml);
    for (const path of ['/healthz', '/readyz']) {
      const get = await request(`${url}${path}`);
      const head = await request(`${url}${path}`, { method: 'HEAD' });
      expect([path, head.status, head.body]).toEqual([path, get.status, '']);
      expect(head.headers['content-type']).toBe(get.headers['content-type']);
    }
    expect((await request(`${url}/config`, { method: 'HEAD' })).status).toBe(401);
  });

  it('the Bearer scheme is case-insensitive (RFC 9110 section 11.1); the token is not', async () => {
    const { url } = await admin({}, yaml);
    const status = async (authorization: string) =>
      (await request(`${url}/config`, { headers: { authorization } })).status;
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR'])
      expect([scheme, await status(`${scheme} ${TOKEN}`)]).toEqual([scheme, 200]);
    expect(await status(`Bearer  ${TOKEN}`)).toBe(200); // 1*SP between scheme and credentials
    expect(await status(`Bearer ${TOKEN.toUpperCase()}`)).toBe(401);
    expect(await status(`Basic ${TOKEN}`)).toBe(401);
    expect(await status(`Bearer ${TOKEN}x`)).toBe(401);
    expect(await status(TOKEN)).toBe(401);
  });
});
