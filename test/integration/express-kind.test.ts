/**
 * The `express` kind end to end: real npm packages (cors, helmet, compression, express-basic-auth, express.json)
 * and local plugins, in front of a real upstream that records what it received.
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Portico } from '../../src/main.js';
import { startUpstream, type TestUpstream, type UpstreamHandler } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';
import { pluginFolder, startFromFolder, type PluginFolder } from '../helpers/express-plugins.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { defineKind, type MiddlewareKind } from '../../src/middleware/kind.js';
import { z } from 'zod';
import { loadConfigFile } from '../../src/config/load.js';
import { startPortico } from '../../src/main.js';
import { silentLogger } from '../helpers/portico.js';

const running: Array<{ close?: () => Promise<void>; shutdown?: () => Promise<void> }> = [];
afterEach(async () => {
  for (const item of running.splice(0)) await (item.shutdown ?? item.close)?.call(item);
});

async function upstream(handler?: UpstreamHandler): Promise<TestUpstream> {
  const started = await startUpstream(handler);
  running.push(started);
  return started;
}

async function portico(
  yaml: string,
  logger?: pino.Logger,
  registry = defaultRegistry,
): Promise<{ p: Portico; folder: PluginFolder }> {
  const folder = pluginFolder();
  folder.write(yaml);
  const p = await startFromFolder(folder, logger, registry);
  running.push(p);
  return { p, folder };
}

function route(up: TestUpstream, middleware: string[], extra = ''): string {
  return [
    'routes:',
    '  - name: api',
    '    match: { pathPrefix: /api }',
    `    upstream: ${up.url}`,
    extra,
    '    middleware:',
    ...middleware.map((entry) => `      - ${entry}`),
    '',
  ]
    .filter((line) => line !== '')
    .join('\n');
}

/** Raw bytes of a response (no decompression), with its headers. */
function rawGet(
  url: string,
  headers: http.OutgoingHttpHeaders,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

function problem(body: string): Record<string, unknown> {
  return JSON.parse(body) as Record<string, unknown>;
}

describe('express kind: npm packages', () => {
  it('cors answers a preflight itself (upstream untouched) and adds Access-Control-Allow-Origin to proxied responses', async () => {
    const up = await upstream();
    const { p } = await portico(
      route(up, ['express: { use: cors, options: { origin: "https://app.example.com", maxAge: 600 } }']),
    );
    const preflight = await request(`${p.proxyUrl}/api/orders`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(preflight.headers['access-control-max-age']).toBe('600');
    expect(preflight.headers['x-request-id']).toBeDefined();
    expect(up.received).toHaveLength(0);

    const real = await request(`${p.proxyUrl}/api/orders`, { headers: { origin: 'https://app.example.com' } });
    expect(real.status).toBe(200);
    expect(real.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(up.received).toHaveLength(1);
  });

  it("helmet's headers reach the client on a proxied response; the upstream's value wins for a header both set", async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-frame-options': 'DENY' });
      res.end('hello');
    });
    const { p } = await portico(route(up, ['express: { use: helmet }']));
    const res = await request(`${p.proxyUrl}/api/page`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('hello');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['x-frame-options']).toBe('DENY'); // helmet's SAMEORIGIN was overwritten by the upstream's
  });

  it('compression gzips a proxied 1 MB body when the client accepts it; small and already-compressed bodies pass as is', async () => {
    const big = Buffer.from(randomBytes(512 * 1024).toString('hex')); // 1 MiB of compressible text
    const gz = gzipSync(Buffer.from('already compressed '.repeat(200)));
    const up = await upstream((req, res) => {
      if (req.url === '/api/big') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': big.length });
        res.end(big);
      } else if (req.url === '/api/small') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
        res.end('small');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': gz.length });
        res.end(gz);
      }
    });
    const { p } = await portico(route(up, ['express: { use: compression }']));

    const zipped = await rawGet(`${p.proxyUrl}/api/big`, { 'accept-encoding': 'gzip' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers['content-length']).toBeUndefined();
    expect(zipped.headers['transfer-encoding']).toBe('chunked');
    expect(zipped.body.length).toBeLessThan(big.length);
    expect(gunzipSync(zipped.body).equals(big)).toBe(true);

    const plain = await rawGet(`${p.proxyUrl}/api/big`, { 'accept-encoding': 'identity' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(big)).toBe(true);

    const small = await rawGet(`${p.proxyUrl}/api/small`, { 'accept-encoding': 'gzip' });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.headers['content-length']).toBe('5');
    expect(small.body.toString()).toBe('small');

    const already = await rawGet(`${p.proxyUrl}/api/gz`, { 'accept-encoding': 'gzip' });
    expect(already.headers['content-encoding']).toBe('gzip');
    expect(already.body.equals(gz)).toBe(true);
  });

  it('express-basic-auth answers 401 without credentials (upstream untouched) and lets valid ones through', async () => {
    const up = await upstream();
    const { p } = await portico(
      route(up, ['express: { use: express-basic-auth, options: { users: { admin: s3cret }, challenge: true } }']),
    );
    const denied = await request(`${p.proxyUrl}/api/x`);
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toMatch(/^Basic/);
    expect(up.received).toHaveLength(0);
    const allowed = await request(`${p.proxyUrl}/api/x`, {
      headers: { authorization: `Basic ${Buffer.from('admin:s3cret').toString('base64')}` },
    });
    expect(allowed.status).toBe(200);
    expect(up.received).toHaveLength(1);
  });
});

describe('express kind: request bodies', () => {
  it('forwards the exact bytes a body parser (express.json) already read', async () => {
    const up = await upstream((_req, res, body) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(createHash('sha256').update(body).digest('hex'));
    });
    const { p } = await portico(route(up, ['express: { use: express, export: json }']));
    const sent = '{ "a" : 1,\n "b": [1, 2, 3] }'; // spacing a re-serialisation would lose
    const res = await request(`${p.proxyUrl}/api/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: sent,
    });
    expect(res.status).toBe(200);
    expect(res.body).toBe(createHash('sha256').update(sent).digest('hex'));
    expect(up.received[0]?.bodyBytes).toBe(Buffer.byteLength(sent));
  });

  it('streams an unread body as on any route (a 2 MB upload through cors)', async () => {
    const up = await upstream((_req, res, body) => res.end(String(body.length)));
    const { p } = await portico(route(up, ['express: { use: cors }']));
    const body = randomBytes(2 * 1024 * 1024);
    const res = await request(`${p.proxyUrl}/api/upload`, { method: 'PUT', body });
    expect(res.status).toBe(200);
    expect(up.received[0]?.bodyBytes).toBe(body.length);
  });
});

describe('express kind: local plugins', () => {
  it('runs a .cjs module that is the factory, and one exported as the middleware itself (factory: false)', async () => {
    const up = await upstream();
    const { p } = await portico(
      `middleware:\n  - express: { use: ./plain.cjs, factory: false }\n` +
        route(up, ['express: { use: ./tag.cjs, options: { value: one } }']),
    );
    const res = await request(`${p.proxyUrl}/api/x`);
    expect(res.headers['x-plain']).toBe('GET');
    expect(res.headers['x-tag']).toBe('v1:one');
  });

  it('a middleware that answers ends the chain: the upstream never sees the request', async () => {
    const up = await upstream();
    const { p } = await portico(route(up, ['express: { use: ./failing.cjs, export: answers }']));
    const res = await request(`${p.proxyUrl}/api/x`);
    expect(res.status).toBe(418);
    expect(JSON.parse(res.body)).toEqual({ from: 'middleware' });
    expect(up.received).toHaveLength(0);
  });
});

describe('express kind: failures', () => {
  it('a throw becomes 500 problem+json without internals, logged with route, module and cause', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const up = await upstream();
    const { p } = await portico(
      route(up, ['express: { use: ./failing.cjs, export: throws }']),
      pino({ level: 'info' }, sink),
    );
    const res = await request(`${p.proxyUrl}/api/x`);
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(problem(res.body)).toMatchObject({ status: 500, code: 'PORTICO_MIDDLEWARE_FAILED', route: 'api' });
    expect(res.body).not.toContain('secret internal detail');
    expect(res.body).not.toContain('at ');
    expect(up.received).toHaveLength(0);
    const logged = lines.find((line) => line.msg === 'express middleware failed');
    expect(logged).toMatchObject({ route: 'api', module: './failing.cjs', status: 500 });
    expect(JSON.stringify(logged?.err)).toContain('secret internal detail');
  });

  it("next(err) with a 403 answers 403 with the error's exposed message; a rejected promise uses its statusCode", async () => {
    const up = await upstream();
    const { p } = await portico(
      [
        'routes:',
        '  - name: forbidden',
        '    match: { pathPrefix: /forbidden }',
        `    upstream: ${up.url}`,
        '    middleware: [{ express: { use: ./failing.cjs, export: forbidden } }]',
        '  - name: rejects',
        '    match: { pathPrefix: /rejects }',
        `    upstream: ${up.url}`,
        '    middleware: [{ express: { use: ./failing.cjs, export: rejects } }]',
        '',
      ].join('\n'),
    );
    const forbidden = await request(`${p.proxyUrl}/forbidden`);
    expect(forbidden.status).toBe(403);
    expect(problem(forbidden.body)).toMatchObject({
      status: 403,
      code: 'PORTICO_MIDDLEWARE_FAILED',
      detail: 'not for you',
    });
    const rejected = await request(`${p.proxyUrl}/rejects`);
    expect(rejected.status).toBe(503);
    expect(problem(rejected.body)).toMatchObject({ status: 503, code: 'PORTICO_MIDDLEWARE_FAILED' });
    expect(problem(rejected.body).detail).toBeUndefined(); // not exposed: no message on the wire
    expect(up.received).toHaveLength(0);
  });

  it("a middleware that never calls next gets 504 after the route's timeout", async () => {
    const up = await upstream();
    const { p } = await portico(route(up, ['express: { use: ./failing.cjs, export: hangs }'], '    timeout: 200ms'));
    const started = Date.now();
    const res = await request(`${p.proxyUrl}/api/x`);
    expect(res.status).toBe(504);
    expect(problem(res.body)).toMatchObject({ code: 'PORTICO_MIDDLEWARE_TIMEOUT', route: 'api' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(up.received).toHaveLength(0);
  });
});

describe('express kind: cost', () => {
  it('gives Express objects only to routes whose chain runs an express entry', async () => {
    const seen: Record<string, boolean> = {};
    // A test kind that records whether the request it gets has Express's helpers.
    const probe = defineKind({
      name: 'probe',
      options: z.undefined(),
      create: (_options, _deps, scope) => (req, _res, next) => {
        seen[scope.route] = typeof (req as { get?: unknown }).get === 'function';
        next();
      },
    });
    const registry = new Map(defaultRegistry);
    registry.set('probe', probe as MiddlewareKind);
    const up = await upstream();
    const { p } = await portico(
      [
        'routes:',
        '  - name: plain',
        '    match: { pathPrefix: /plain }',
        `    upstream: ${up.url}`,
        '    middleware: [probe]',
        '  - name: extended',
        '    match: { pathPrefix: /extended }',
        `    upstream: ${up.url}`,
        '    middleware: [{ express: { use: cors } }, probe]',
        '',
      ].join('\n'),
      undefined,
      registry,
    );
    expect((await request(`${p.proxyUrl}/plain`)).status).toBe(200);
    expect((await request(`${p.proxyUrl}/extended`)).status).toBe(200);
    expect(seen).toEqual({ plain: false, extended: true });
  });
});

describe("express kind: userLookup's chain", () => {
  it('runs express entries in the chain of a built-in route', async () => {
    const folder = pluginFolder();
    // The lookup stays off; a builtin running userLookup's chain stands in for it (no database needed).
    writeFileSync(
      folder.file,
      'server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\nuserLookup:\n  enabled: false\n  middleware:\n' +
        '    - express: { use: ./tag.cjs, options: { value: lookup } }\n    - express: { use: cors }\n',
    );
    const config = await loadConfigFile(folder.file, { registry: defaultRegistry, env: {} });
    const p = await startPortico({
      config,
      logger: silentLogger,
      builtins: [
        {
          name: 'userLookup',
          matches: (method, path) => method === 'GET' && path.startsWith('/users/'),
          middleware: config.userLookup.middleware,
          handler: (_req, res) => {
            res.writeHead(200, { 'content-type': 'text/plain' }).end('user');
          },
        },
      ],
    });
    running.push(p);
    const res = await request(`${p.proxyUrl}/users/1`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('user');
    expect(res.headers['x-tag']).toBe('v1:lookup');
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });
});

describe('express kind: req.ip', () => {
  it('is the client address Portico derived with server.trustedProxies', async () => {
    const up = await upstream();
    const folder = pluginFolder();
    const write = (trusted: string): void =>
      writeFileSync(
        folder.file,
        `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  trustedProxies: [${trusted}]\n` +
          `userLookup:\n  enabled: false\nroutes:\n  - name: api\n    upstream: ${up.url}\n` +
          '    middleware:\n      - express: { use: ./client.cjs }\n',
      );
    write('127.0.0.1/32');
    const trusting = await startFromFolder(folder);
    running.push(trusting);
    const behind = await request(`${trusting.proxyUrl}/x`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(behind.headers['x-seen-ip']).toBe('203.0.113.7');
    expect(behind.headers['x-seen-locals-ip']).toBe('203.0.113.7');

    write('10.0.0.0/8');
    const wary = await startFromFolder(folder);
    running.push(wary);
    const spoofed = await request(`${wary.proxyUrl}/x`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(spoofed.headers['x-seen-ip']).toBe('127.0.0.1');
  });
});
