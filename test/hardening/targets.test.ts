/**
 * Where a request may go. Path tricks must not reach a route (or its upstream) that a plain reading of the path
 * would not, nor the admin surface, which lives on its own port; and nothing in a request (request line, Host,
 * forwarding headers, CONNECT, upgrades) can make Portico connect anywhere but the configured upstreams. An
 * "evil" listener stands where a confused proxy would connect, and must see nothing.
 */
import http from 'node:http';
import { rawExchange, request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { portico, rawSocket, stopAll, tripwire, upstream } from './support.js';

afterAll(stopAll);

describe('path tricks', () => {
  let port = 0;
  const seen: Record<string, string[]> = { private: [], public: [] };

  beforeAll(async () => {
    const privateUp = await upstream((req, res) => {
      seen.private?.push(`${req.url} chain=${String(req.headers['x-chain'])}`);
      res.end('private');
    });
    const publicUp = await upstream((req, res) => {
      seen.public?.push(req.url ?? '');
      res.end('public');
    });
    // `login` and the catch-all share an upstream, as routes that differ only in their middleware do: reaching
    // /login through the catch-all would skip the login route's chain.
    const yaml = [
      'routes:',
      '  - name: login',
      '    match: { pathPrefix: /login }',
      `    upstream: ${privateUp.url}`,
      '    middleware:',
      '      - headers: { request: { set: { x-chain: login } } }',
      '  - name: public',
      '    match: { pathPrefix: /public }',
      `    upstream: ${publicUp.url}`,
      '  - name: rest',
      '    match: { pathPrefix: /app }',
      `    upstream: ${privateUp.url}`,
      '',
    ].join('\n');
    port = (await portico(yaml)).port;
  });

  const TRICKS = [
    '/public/../login',
    '/public/./login',
    '/public/%2e%2e/login',
    '/public/%2E%2E/login',
    '/public/.%2e/login',
    '/public/..%2flogin',
    '/public%2flogin',
    '/public%2Flogin',
    '/public\\..\\login',
    '/public%5c..%5clogin',
    '/public/%252e%252e/login',
    '/public/..;/login',
    '/public/%00/x',
    '//login/x',
    '/app//login',
    '/%6cogin/x',
    '/app/%2e%2e/login',
    '/log%69n',
    '/login%2e/x',
    // A fragment is not part of an origin-form target (RFC 9112 section 3.2.1): `/login#` misses the /login prefix.
    '/login#',
    '/login#/x',
    '/app/x#/../login',
    '/app/x?q=1#frag',
  ];

  it.each(TRICKS)('%s is refused with 400 and reaches no upstream', async (path) => {
    const before = [seen.private?.length, seen.public?.length];
    const res = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(res.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(res.text).toContain('"code":"PORTICO_BAD_REQUEST"');
    expect([seen.private?.length, seen.public?.length]).toEqual(before);
  });

  it('controls: the plain paths route where they should, through their chains', async () => {
    const paths = ['/login/x', '/public/x', '/app/x', '/public/a.b/c..d/.well-known', '/app/x?next=//evil/%2e%2e'];
    for (const path of paths)
      expect((await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).text).toMatch(
        /^HTTP\/1\.1 200 /,
      );
    expect(seen.private).toEqual([
      '/login/x chain=login',
      '/app/x chain=undefined',
      '/app/x?next=//evil/%2e%2e chain=undefined',
    ]);
    expect(seen.public).toEqual(['/public/x', '/public/a.b/c..d/.well-known']);
  });

  it('the admin endpoints are not on the proxy port, whatever the spelling', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/config', '/public/../metrics', '/%2e%2e/config']) {
      const res = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(res.text).toMatch(/^HTTP\/1\.1 (404|400) /);
      expect(res.text).toContain('application/problem+json');
    }
  });
});

describe('upstreams come only from the config', () => {
  let port = 0;
  let evil: Awaited<ReturnType<typeof tripwire>>;
  let target = '';
  const seen: http.IncomingHttpHeaders[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    evil = await tripwire();
    target = `127.0.0.1:${evil.port}`;
    const up = await upstream((req, res) => {
      seen.push(req.headers);
      urls.push(req.url ?? '');
      res.end('configured');
    });
    port = (
      await portico(
        `routes:\n  - name: api\n    match: { pathPrefix: /api }\n    stripPrefix: true\n    upstream: ${up.url}\n`,
      )
    ).port;
  });

  afterEach(() => {
    expect(evil.connections()).toBe(0);
  });

  it('refuses absolute-form targets, with or without a matching Host', async () => {
    for (const line of [
      `GET http://${target}/api/x HTTP/1.1`,
      `GET https://${target}/api/x HTTP/1.1`,
      `GET //${target}/api/x HTTP/1.1`,
    ]) {
      for (const host of ['x', target]) {
        const res = await rawExchange(port, `${line}\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        expect(res.text).toMatch(/^HTTP\/1\.1 400 /);
      }
    }
    expect(urls).toEqual([]);
  });

  it('refuses CONNECT and an asterisk-form target, and opens no tunnel', async () => {
    const connect = await rawExchange(
      port,
      `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\nGET / HTTP/1.1\r\nHost: ${target}\r\n\r\n`,
    );
    expect(connect.closed).toBe(true);
    expect(connect.text).not.toMatch(/^HTTP\/1\.1 200 /);
    const star = await rawExchange(port, `OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(star.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(evil.bytes()).toBe(0);
  });

  it('forwards to the configured upstream whatever Host and forwarding headers claim', async () => {
    const res = await request(`http://127.0.0.1:${port}/api/who`, {
      headers: {
        host: target,
        'x-forwarded-host': target,
        forwarded: `for=1.2.3.4;host=${target};proto=https`,
        'x-original-url': `http://${target}/`,
        'x-rewrite-url': `http://${target}/`,
        'x-forwarded-server': target,
        'x-http-method-override': 'CONNECT',
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toBe('configured');
    const headers = seen.at(-1) ?? {};
    expect(headers.forwarded).toBeUndefined(); // from an untrusted peer it is dropped, not passed on
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('cannot turn a stripped prefix into a host (`/api//evil/x`, `/api@evil/x`)', async () => {
    const before = urls.length;
    const slash = await rawExchange(port, `GET /api//${target}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(slash.text).toMatch(/^HTTP\/1\.1 400 /);
    const at = await rawExchange(port, `GET /api/@${target}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(at.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(urls.slice(before)).toEqual([`/@${target}/x`]);
  });

  it('refuses an upgrade with an absolute-form target, and sends one with a foreign Host to the configured upstream', async () => {
    const absolute = await rawExchange(
      port,
      `GET http://${target}/api/ws HTTP/1.1\r\nHost: ${target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    expect(absolute.closed).toBe(true);
    expect(absolute.text).toBe('');
    const before = urls.length;
    // The upstream is a plain HTTP server: it answers the upgrade request as a normal request.
    const raw = await rawSocket(port);
    raw.socket.write(
      `GET /api/ws HTTP/1.1\r\nHost: ${target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    let closed = false;
    void raw.closed.then(() => (closed = true)); // `closed` never rejects
    // Wherever it went, the request lands somewhere or the socket closes: wait for that, not for a time.
    await waitFor(() => urls.length > before || evil.connections() > 0 || closed, {
      message: 'the upgrade to reach an upstream or be refused',
    });
    expect(urls.length - before).toBeLessThanOrEqual(1);
  });
});

describe('hosts and letter case', () => {
  let port = 0;
  const seen: string[] = [];

  beforeAll(async () => {
    const up = await upstream((req, res) => {
      seen.push(`${req.url} chain=${String(req.headers['x-chain'])}`);
      res.end('ok');
    });
    const chain = (name: string) => `    middleware:\n      - headers: { request: { set: { x-chain: ${name} } } }\n`;
    const yaml = [
      'routes:',
      '  - name: login',
      '    match: { pathPrefix: /login, caseInsensitive: true }',
      `    upstream: ${up.url}`,
      chain('login'),
      '  - name: internal',
      '    match: { host: API.internal, pathPrefix: /internal }',
      `    upstream: ${up.url}`,
      chain('internal'),
      '  - name: rest',
      `    upstream: ${up.url}`,
      '',
    ].join('\n');
    port = (await portico(yaml)).port;
  });

  const get = async (path: string, host: string): Promise<string | undefined> => {
    const res = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(res.text).toMatch(/^HTTP\/1\.1 200 /);
    return seen.at(-1);
  };

  it('a case-insensitive prefix takes every spelling of its path', async () => {
    expect(await get('/LOGIN/x', 'x')).toBe('/LOGIN/x chain=login');
    expect(await get('/Login', 'x')).toBe('/Login chain=login');
    expect(await get('/login?next=/', 'x')).toBe('/login?next=/ chain=login');
    expect(await get('/loginx', 'x')).toBe('/loginx chain=undefined'); // still segment-aware
  });

  it('hosts match whatever their case and a trailing dot', async () => {
    for (const host of ['api.internal', 'API.INTERNAL', 'api.internal.', 'Api.Internal.:8080'])
      expect([host, await get('/internal/secret', host)]).toEqual([host, '/internal/secret chain=internal']);
    expect(await get('/internal/secret', 'api.internal..')).toBe('/internal/secret chain=undefined');
  });

  it('a prefix without the option stays case-sensitive', async () => {
    expect(await get('/Internal/secret', 'api.internal')).toBe('/Internal/secret chain=undefined');
  });
});
