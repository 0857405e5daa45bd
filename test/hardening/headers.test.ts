/**
 * Header abuse. Hop-by-hop headers and the headers a `Connection` field nominates are dropped in both directions,
 * but the nomination cannot strip what Portico itself sets or needs for framing (Traefik GHSA-62c8-mh53-4cqv,
 * Apache CVE-2022-31813). And a client that is not a trusted proxy cannot choose its own identity through
 * X-Forwarded-For: not the one the upstream sees, not the rate-limit key.
 */
import type http from 'node:http';
import { rawExchange, request } from '../helpers/http.js';
import { portico, serverSection, stopAll, upstream } from './support.js';

afterEach(stopAll);

function headerOf(text: string, name: string): string | undefined {
  const match = new RegExp(`^${name}: (.*)$`, 'im').exec(text.split('\r\n\r\n')[0] ?? '');
  return match?.[1];
}

describe('Connection nomination cannot strip what Portico sets', () => {
  it('keeps X-Forwarded-*, X-Request-Id, Host and the body framing; drops the rest that was nominated', async () => {
    const seen: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
    const up = await upstream((req, res, body) => {
      seen.push({ headers: req.headers, body: body.toString() });
      res.end('ok');
    });
    const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
    const nominated =
      'close, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Request-Id, Host, Content-Length, Traceparent, X-Secret';
    const res = await rawExchange(
      p.port,
      'POST /x HTTP/1.1\r\nHost: app.example\r\n' +
        `Connection: ${nominated}\r\n` +
        'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nX-Request-Id: bad id with spaces\r\n' +
        'X-Secret: strip-me\r\nKeep-Alive: timeout=999\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n' +
        'TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello',
    );
    expect(res.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(res.closed).toBe(true);
    const requestId = headerOf(res.text, 'x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/); // the insane client id was replaced
    const { headers, body } = seen[0] ?? { headers: {}, body: '' };
    expect(body).toBe('hello');
    expect(headers).toMatchObject({
      host: 'app.example',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-host': 'app.example',
      'x-forwarded-proto': 'http',
      'x-request-id': requestId,
      'content-length': '5',
    });
    for (const name of [
      'x-secret',
      'keep-alive',
      'proxy-connection',
      'proxy-authorization',
      'te',
      'trailer',
      'upgrade',
      'transfer-encoding',
    ]) {
      expect([name, headers[name]]).toEqual([name, undefined]);
    }
  });

  it("in the response: drops what the upstream nominates, keeps Portico's request id and the framing", async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, {
        connection: 'X-Request-Id, Content-Length, X-Internal',
        'x-internal': '10.0.0.7',
        'keep-alive': 'timeout=5',
        'proxy-authenticate': 'Basic',
        upgrade: 'h2c',
        'content-length': '11',
      });
      res.end('whole body!');
    });
    const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
    const res = await request(`${p.portico.proxyUrl}/x`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('whole body!');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    for (const name of ['x-internal', 'keep-alive', 'proxy-authenticate', 'upgrade']) {
      expect([name, res.headers[name]]).toEqual([name, undefined]);
    }
  });
});

describe('a client cannot pick its identity through X-Forwarded-For', () => {
  const FORGED = [
    '10.0.0.1',
    '198.51.100.7',
    '198.51.100.8, 10.0.0.1',
    'unknown',
    '::ffff:203.0.113.1',
    `${'1.1.1.1, '.repeat(200)}9.9.9.9`,
  ];

  it('from an untrusted peer: replaced for the upstream, and the rate-limit key stays the peer', async () => {
    const xff: string[] = [];
    const up = await upstream((req, res) => {
      xff.push(String(req.headers['x-forwarded-for']));
      res.end('ok');
    });
    const yaml = `${serverSection('  trustedProxies: [10.0.0.0/8]\n')}rateLimits:\n  per-client: { key: ip, limit: 2, window: 1m }\nroutes:\n  - name: api\n    upstream: ${up.url}\n    middleware:\n      - rateLimit: per-client\n`;
    const p = await portico(yaml);
    const statuses: number[] = [];
    for (const value of FORGED)
      statuses.push((await request(`${p.portico.proxyUrl}/x`, { headers: { 'x-forwarded-for': value } })).status);
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
    expect(xff).toEqual(['127.0.0.1', '127.0.0.1']);
  });
});

describe('behind a trusted hop, X-Forwarded-For is walked only as far as it can be believed', () => {
  // The peer (127.0.0.1) is the trusted hop; the left entries vary per request as a client's forgeries would.
  const CASES: ReadonlyArray<[string, (forged: string) => string]> = [
    ['ip:port appended by the hop', (forged) => `${forged}, 198.51.100.7:51234`],
    ['[v6]:port appended by the hop', (forged) => `${forged}, [2001:db8::7]:443`],
    ['[v6] without a port', (forged) => `${forged}, [2001:db8::8]`],
    ['an entry that is no address', (forged) => `${forged}, unknown`],
    ['an empty entry', (forged) => `${forged}, , 10.0.0.3`],
    ['a bad port', (forged) => `${forged}, 198.51.100.9:99999`],
  ];

  it.each(CASES)('%s: the forged entries left of it do not make new rate-limit keys', async (_name, header) => {
    const up = await upstream((_req, res) => res.end('ok'));
    const yaml = `${serverSection('  trustedProxies: [127.0.0.1, 10.0.0.0/8]\n')}rateLimits:\n  per-client: { key: ip, limit: 1, window: 1m }\nroutes:\n  - name: api\n    upstream: ${up.url}\n    middleware:\n      - rateLimit: per-client\n`;
    const p = await portico(yaml);
    const statuses: number[] = [];
    for (const forged of ['203.0.113.1', '203.0.113.2', '203.0.113.3'])
      statuses.push(
        (await request(`${p.portico.proxyUrl}/x`, { headers: { 'x-forwarded-for': header(forged) } })).status,
      );
    expect(statuses).toEqual([200, 429, 429]);
  });
});
