/**
 * http-proxy-middleware 4 and the httpxy engine under it, as src/proxy/forward.ts and src/proxy/headers.ts use
 * them: the engine captured through a plugin and its `web()` called directly, the events Portico hooks, and the
 * response-header copy that skips `undefined`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { createProxyMiddleware, type Options, type Plugin } from 'http-proxy-middleware';
import { assumption, close, listen } from './support';

type Web = (req: IncomingMessage, res: ServerResponse, options: Options) => unknown;
type Engine = Parameters<Plugin>[0];

const servers: http.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map(close));
});

async function upstream(): Promise<string> {
  const { server, url } = await listen((_req, res) => {
    res.writeHead(200, { 'keep-alive': 'timeout=5', 'x-hop': 'secret', 'content-type': 'text/plain' });
    res.end('upstream body');
  });
  servers.push(server);
  return url;
}

/** The engine and its `web`, captured the way forward.ts createUpstreamProxies() does. */
function capture(target: string): { engine: Engine; web: Web; options: Options } {
  let engine: Engine | undefined;
  const options: Options = { target: new URL(target), ejectPlugins: true, plugins: [(server) => (engine = server)] };
  createProxyMiddleware(options);
  if (engine === undefined) throw new Error('the plugin was not run by createProxyMiddleware');
  const captured = engine;
  return { engine: captured, web: captured.web.bind(captured) as unknown as Web, options };
}

async function proxyOnce(web: (req: IncomingMessage, res: ServerResponse) => void): Promise<{
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}> {
  const { server, url } = await listen((req, res) => web(req, res));
  servers.push(server);
  const res = await fetch(url);
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

assumption(
  'createProxyMiddleware() runs each `plugins` entry synchronously with the httpxy engine, whose `web(req, res, options)` forwards a request and returns a promise',
  'src/proxy/forward.ts createUpstreamProxies(): captures `server.web` in its plugin and calls it per request, bypassing the middleware wrapper',
  async () => {
    const { web, options } = capture(await upstream());
    let returned: unknown;
    const answer = await proxyOnce((req, res) => {
      returned = web(req, res, options);
    });
    expect(answer).toMatchObject({ status: 200, body: 'upstream body' });
    expect(returned).toBeInstanceOf(Promise);
    await expect(returned).resolves.toBeUndefined();
  },
);

assumption(
  "with an `error` listener on the engine, web()'s promise resolves when the upstream fails: the failure goes to the listener only",
  'src/proxy/forward.ts createUpstreamProxies(): `web` and the retry call the engine with its promise discarded; errors are answered by its `error` listener',
  async () => {
    const dead = await listen(() => undefined);
    await close(dead.server); // a port that refuses connections
    const { engine, web, options } = capture(dead.url);
    const errors: string[] = [];
    engine.on('error', (err: NodeJS.ErrnoException, _req, res) => {
      errors.push(err.code ?? err.message);
      if (res instanceof http.ServerResponse) res.writeHead(502).end();
    });
    let settled: Promise<unknown> | undefined;
    const answer = await proxyOnce((req, res) => {
      settled = Promise.resolve(web(req, res, options));
    });
    expect(answer.status).toBe(502);
    expect(errors).toEqual(['ECONNREFUSED']);
    await expect(settled).resolves.toBeUndefined();
  },
);

assumption(
  "web()'s promise rejects only with the client response's own `error` event",
  'src/proxy/forward.ts createUpstreamProxies(): the `.catch(ignoreClientGone)` on every `web` call exists for this one case',
  async () => {
    const { engine, web, options } = capture(await upstream());
    engine.on('error', () => undefined);
    const failure = new Error('client response failed');
    let outcome: Promise<unknown> | undefined;
    await proxyOnce((req, res) => {
      // Observed at once: an unobserved rejection would be reported as unhandled before the assertion.
      outcome = Promise.resolve(web(req, res, options)).then(
        () => 'resolved',
        (reason: unknown) => reason,
      );
      res.emit('error', failure);
      res.writeHead(500).end();
    });
    expect(await outcome).toBe(failure);
  },
);

assumption(
  'httpxy copies upstream response headers to the client skipping those whose value is `undefined`',
  'src/proxy/headers.ts stripHopByHop({ blank: true }) via src/proxy/forward.ts onProxyRes(): hop-by-hop headers are blanked, not deleted',
  async () => {
    const { engine, web, options } = capture(await upstream());
    engine.on('proxyRes', (proxyRes: IncomingMessage) => {
      proxyRes.headers['x-hop'] = undefined;
      proxyRes.headers['keep-alive'] = undefined;
    });
    const answer = await proxyOnce((req, res) => void web(req, res, options));
    expect(answer.status).toBe(200);
    expect(answer.headers['x-hop']).toBeUndefined();
    expect(answer.headers['keep-alive']).toBeUndefined();
    expect(answer.headers['content-type']).toBe('text/plain');
  },
);

assumption(
  "the engine emits `end` (req, res, proxyRes) from the upstream response's own `end` handlers, when it has been read to its end",
  "src/proxy/forward.ts restoreKeepAliveHint(): puts the Keep-Alive hint back on `end`, before Node's agent reads it",
  async () => {
    const { engine, web, options } = capture(await upstream());
    const ends: boolean[] = [];
    engine.on('end', (_req: IncomingMessage, _res: ServerResponse, proxyRes: IncomingMessage) => {
      ends.push(proxyRes.complete);
    });
    const ended = once(engine, 'end');
    await proxyOnce((req, res) => void web(req, res, options));
    await ended;
    expect(ends).toEqual([true]);
  },
);

assumption(
  "the engine emits `proxyRes` before it copies the upstream head onto the client response, then sends the body through the upstream response's own `pipe`",
  'src/upstream/forwarder.ts attemptHooks.responded(): a 5xx dropped for a retry has its `pipe` made a no-op and the copied head undone on the next tick',
  async () => {
    const { engine, web, options } = capture(await upstream());
    const seen: Array<{ headersAtEvent: string[]; statusAtEvent: number }> = [];
    engine.on('proxyRes', (proxyRes: IncomingMessage, _req: IncomingMessage, res: ServerResponse) => {
      seen.push({ headersAtEvent: res.getHeaderNames(), statusAtEvent: res.statusCode });
      (proxyRes as unknown as { pipe: (destination: unknown) => unknown }).pipe = (destination) => destination;
      proxyRes.resume();
      process.nextTick(() => {
        expect(res.getHeader('x-hop')).toBe('secret'); // the head was copied after the event
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.writeHead(299, { 'content-type': 'text/plain' }).end('replaced');
      });
    });
    const answer = await proxyOnce((req, res) => void web(req, res, options));
    expect(seen).toEqual([{ headersAtEvent: [], statusAtEvent: 200 }]);
    expect(answer).toMatchObject({ status: 299, body: 'replaced' });
  },
);
