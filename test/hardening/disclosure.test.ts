/**
 * What an error response may say. Whatever fails (upstream refused, reset, silent; a malformed request; a
 * middleware that throws an error full of internals), the client gets problem+json with a stable code and the
 * request id, never a stack trace, an internal address, a file path or an errno.
 */
import { z } from 'zod';
import { loadConfigText } from '../../src/config/load.js';
import { startPortico } from '../../src/main.js';
import { defineKind, type MiddlewareKind } from '../../src/middleware/kind.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import type { KindRegistry } from '../../src/middleware/entries.js';
import { rawExchange } from '../helpers/http.js';
import { silentLogger } from '../helpers/portico.js';
import { closedPort } from '../helpers/upstream.js';
import { faultProxy, serverSection, stopAll, upstream } from './support.js';

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  await stopAll();
});

const INTERNALS = 'connect ECONNREFUSED 10.1.2.3:5432 (db.internal.example) at /srv/portico/src/pool.ts:12:7';

/** Throws, rejects or passes an error to next, each carrying internals in its message and stack. */
const boomKind = defineKind({
  name: 'boom',
  options: z.enum(['throw', 'reject', 'next']),
  create: (mode) => (_req, _res, next) => {
    const err = Object.assign(new Error(INTERNALS), { code: 'ECONNREFUSED', address: '10.1.2.3' });
    if (mode === 'throw') throw err;
    if (mode === 'reject') return Promise.reject(err);
    next(err);
  },
});

const FORBIDDEN = [
  /\bat .+:\d+:\d+/,
  /node:internal/,
  /\bError:/,
  /\bE(?:CONN|ADDR|HOST|NET|PIPE|TIMEDOUT|AI_|NOTFOUND)/,
  /10\.1\.2\.3/,
  /db\.internal/,
  /\/srv\//,
  /\.ts\b/,
  /127\.0\.0\.1:\d+/,
];

describe('error responses disclose nothing internal', () => {
  const exchanges: Array<[string, string]> = [];
  let port = 0;

  beforeAll(async () => {
    const hanging = await upstream(() => undefined);
    const resetting = await upstream((req) => req.socket.destroy());
    const answering = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
    });
    const blackhole = await faultProxy(answering.port, { kind: 'blackhole' });
    const refused = await closedPort();
    const registry: KindRegistry = new Map([...defaultRegistry, ['boom', boomKind as MiddlewareKind]]);
    const route = (name: string, target: string, extra = '', methods = '') =>
      `  - name: ${name}\n    match: { pathPrefix: /${name}${methods} }\n    timeout: 300ms\n    upstream: ${target}\n${extra}`;
    const yaml = [
      serverSection('  bodyIdleTimeout: 200ms\n  maxHeaderSize: 2048\n').trimEnd(),
      'routes:',
      route('refused', `http://127.0.0.1:${refused}`),
      route('reset', resetting.url),
      route('hang', hanging.url),
      route('blackhole', blackhole.url),
      route('small', hanging.url, '    maxBodySize: 10\n', ', methods: [POST]'),
      route('throw', hanging.url, '    middleware:\n      - boom: throw\n'),
      route('reject', hanging.url, '    middleware:\n      - boom: reject\n'),
      route('next', hanging.url, '    middleware:\n      - boom: next\n'),
    ].join('\n');
    const config = loadConfigText(yaml, 'disclosure.yaml', { registry, env: {} });
    const portico = await startPortico({ config, registry, logger: silentLogger });
    port = Number(new URL(portico.proxyUrl).port);
    const cases: Array<[string, string]> = [
      ['refused', 'GET /refused/x HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['reset', 'POST /reset/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi'],
      ['timeout', 'GET /hang/x HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['blackhole', 'GET /blackhole/x HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['not found', 'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['method', 'DELETE /small HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['too large', 'POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world'],
      ['stalled body', 'POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe'],
      ['bad target', 'GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['bad host', 'GET /a HTTP/1.1\r\nHost: a@b\r\n\r\n'],
      ['malformed', 'GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
      ['headers too large', `GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`],
      ['middleware throws', 'GET /throw/x HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['middleware rejects', 'GET /reject/x HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['middleware passes to next', 'GET /next/x HTTP/1.1\r\nHost: x\r\n\r\n'],
    ];
    // Connection: close makes each exchange end when its answer does (the malformed ones are closed anyway).
    for (const [name, payload] of cases)
      exchanges.push([
        name,
        (await rawExchange(port, payload.replace('Host: x\r\n', 'Host: x\r\nConnection: close\r\n'), 1500)).text,
      ]);
    closers.push(() => portico.shutdown());
  });

  it('answers every failure as problem+json with a status and a code', () => {
    const statuses = exchanges.map(([name, text]) => [name, /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]]);
    expect(statuses).toEqual([
      ['refused', '502'],
      ['reset', '502'],
      ['timeout', '504'],
      ['blackhole', '504'],
      ['not found', '404'],
      ['method', '405'],
      ['too large', '413'],
      ['stalled body', '408'],
      ['bad target', '400'],
      ['bad host', '400'],
      ['malformed', '400'],
      ['headers too large', '431'],
      ['middleware throws', '500'],
      ['middleware rejects', '500'],
      ['middleware passes to next', '500'],
    ]);
    for (const [, text] of exchanges) expect(text.toLowerCase()).toContain('content-type: application/problem+json');
  });

  it.each(FORBIDDEN.map((pattern) => [String(pattern)]))('no response matches %s', (source) => {
    const pattern = FORBIDDEN.find((p) => String(p) === source) as RegExp;
    const hits = exchanges.filter(([, text]) => pattern.test(text)).map(([name]) => name);
    expect(hits).toEqual([]);
  });
});
