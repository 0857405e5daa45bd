/**
 * Request lines and forwarding headers at the edges of HTTP/1.1: an HTTP/0.9-style request line or a version Portico
 * does not speak is answered at the edge and never forwarded; an HTTP/1.0 request without Host gets no empty
 * X-Forwarded-Host; and `stripPrefix` onto an upstream with a base path maps the route root the same way with or
 * without a query string.
 */
import { rawExchange } from '../helpers/http.js';
import { portico, stopAll, upstream } from './support.js';

afterAll(stopAll);

describe('request lines', () => {
  let port = 0;
  const seen: string[] = [];

  beforeAll(async () => {
    const up = await upstream((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.httpVersion} xfh=${JSON.stringify(req.headers['x-forwarded-host'])}`);
      res.end('ok');
    });
    port = (await portico(`routes:\n  - name: all\n    upstream: ${up.url}\n`)).port;
  });

  it.each([
    ['HTTP/0.9 style, no version', 'GET /x\r\n\r\n', 400],
    ['HTTP/0.9 style, with headers', 'GET /x\r\nHost: a\r\n\r\n', 400],
    ['HTTP/0.9 named', 'GET /x HTTP/0.9\r\nHost: a\r\n\r\n', 400],
    ['HTTP/2.0', 'GET /x HTTP/2.0\r\nHost: a\r\n\r\n', 505],
  ])('%s is answered at the edge and not forwarded', async (_name, payload, status) => {
    const before = seen.length;
    const res = await rawExchange(port, payload);
    expect(res.text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(res.text).toContain('application/problem+json');
    expect(seen.length).toBe(before);
  });

  it('HTTP/1.0 without Host is forwarded without an empty X-Forwarded-Host; with Host it carries it', async () => {
    expect((await rawExchange(port, 'GET /a HTTP/1.0\r\n\r\n')).text).toMatch(/^HTTP\/1\.1 200 /);
    expect(seen.at(-1)).toBe('GET /a 1.1 xfh=undefined');
    expect((await rawExchange(port, 'GET /b HTTP/1.0\r\nHost: svc\r\n\r\n')).text).toMatch(/^HTTP\/1\.1 200 /);
    expect(seen.at(-1)).toBe('GET /b 1.1 xfh="svc"');
  });
});

describe('stripPrefix onto an upstream base path', () => {
  it.each(['/base', '/base/'])('maps the route root alike with and without a query (base %s)', async (base) => {
    const urls: string[] = [];
    const up = await upstream((req, res) => {
      urls.push(req.url ?? '');
      res.end('ok');
    });
    const p = await portico(
      `routes:\n  - name: svc\n    match: { pathPrefix: /svc/v1 }\n    stripPrefix: true\n    upstream: ${up.url}${base}\n`,
    );
    for (const path of ['/svc/v1', '/svc/v1?q=1', '/svc/v1/', '/svc/v1/?q=1', '/svc/v1/x?q=1'])
      expect((await rawExchange(p.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).text).toMatch(
        /^HTTP\/1\.1 200 /,
      );
    expect(urls).toEqual(['/base/', '/base/?q=1', '/base/', '/base/?q=1', '/base/x?q=1']);
  });
});
