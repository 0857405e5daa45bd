/**
 * Forwarding to one route's upstreams through http-proxy-middleware 4 (httpxy underneath). The library's default
 * plugins are ejected: its error plugin maps a refused connection to 504 and echoes Host and URL into the body, so
 * Portico registers its own error handler and renders problem+json from the error catalogue instead.
 *
 * Everything per route is built here once at plan build: one middleware per upstream (target parsed to a URL
 * once, since httpxy re-parses string targets per request), the agent, the timeout. Per request the work is a
 * round-robin pick, the header rewrite and the library call.
 */
import { Readable } from 'node:stream';
import type { Agent, ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyMiddleware, type Options, type Plugin } from 'http-proxy-middleware';
import { PorticoError, sendProblem, type ErrorCode } from '../errors.js';
import { stripHopByHop } from './headers.js';

export interface ForwardHooks {
  /** True while the server drains: responses then carry `Connection: close`. */
  readonly draining: () => boolean;
  /** Called once per failed upstream exchange, with the classified error (for logs and metrics). */
  readonly onUpstreamError?: (err: PorticoError, req: IncomingMessage) => void;
}

export interface ForwardOptions {
  readonly route: string;
  readonly upstreams: readonly URL[];
  readonly timeoutMs: number;
  readonly agentFor: (url: URL) => Agent;
  readonly hooks: ForwardHooks;
}

export type Forward = (req: IncomingMessage, res: ServerResponse) => void;
export type ForwardUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

const RETRIED = Symbol('portico.retried');
const PROXY_REQ = Symbol('portico.proxyReq');
const CLOSE_WANTED = Symbol('portico.closeWanted');

interface ForwardState {
  [RETRIED]?: boolean;
  [PROXY_REQ]?: ClientRequest;
  [CLOSE_WANTED]?: boolean;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

/** Marks the request as wanting its client connection closed after the response (client said `Connection: close`). */
export function markCloseWanted(req: IncomingMessage, close: boolean): void {
  if (close) (req as IncomingMessage & ForwardState)[CLOSE_WANTED] = true;
}

/** Maps a low-level upstream failure to a catalogue code. */
export function classifyUpstreamError(err: unknown): ErrorCode {
  if (err instanceof PorticoError) return err.code;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (UNREACHABLE.has(code)) return 'PORTICO_UPSTREAM_UNREACHABLE';
  if (code === 'ETIMEDOUT') return 'PORTICO_UPSTREAM_TIMEOUT';
  return 'PORTICO_UPSTREAM_RESET';
}

/**
 * A stale keep-alive socket (the upstream closed it while idle) fails with ECONNRESET before any response byte.
 * Such a request is replayed once on a fresh socket, but only when that is safe: idempotent method, no request body
 * (it was streamed and is gone), nothing sent to the client yet, not already retried.
 */
function shouldRetry(err: unknown, req: IncomingMessage & ForwardState, res: ServerResponse): boolean {
  if (req[RETRIED] || res.headersSent || res.destroyed) return false;
  if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') return false;
  if (!IDEMPOTENT.has(req.method ?? '')) return false;
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) return false;
  return req[PROXY_REQ]?.reusedSocket === true;
}

function timeoutError(route: string, timeoutMs: number): PorticoError {
  return new PorticoError('PORTICO_UPSTREAM_TIMEOUT', `upstream idle for ${timeoutMs}ms`, { context: { route, timeoutMs } });
}

function buildOptions(target: URL, agent: Agent, plugin: Plugin): Options {
  // `on: {...}` is wired by the library's proxy-events plugin, ejected here with the others: events are
  // registered in Portico's own plugin instead.
  return { target, agent, changeOrigin: false, xfwd: false, ejectPlugins: true, plugins: [plugin] };
}

function onProxyReq(options: ForwardOptions, proxyReq: ClientRequest, req: IncomingMessage): void {
  (req as IncomingMessage & ForwardState)[PROXY_REQ] = proxyReq;
  // Idle bound on connect, first byte and every gap; destroying with a typed error makes it a 504.
  proxyReq.setTimeout(options.timeoutMs, () => proxyReq.destroy(timeoutError(options.route, options.timeoutMs)));
}

function onProxyRes(options: ForwardOptions, proxyRes: IncomingMessage, req: IncomingMessage): void {
  stripHopByHop(proxyRes.headers);
  const close = options.hooks.draining() || (req as IncomingMessage & ForwardState)[CLOSE_WANTED] === true;
  proxyRes.headers.connection = close ? 'close' : 'keep-alive';
}

/** Builds the forwarder for one route: round robin over its upstreams, own error rendering, one safe retry. */
export function createForwarder(options: ForwardOptions): { forward: Forward; upgrade: ForwardUpgrade } {
  let next = 0;
  const targets = options.upstreams.map((target) => {
    const state: { server?: { web: (req: IncomingMessage, res: ServerResponse, opts: Options) => Promise<void> } } = {};
    const plugin: Plugin = (server) => {
      state.server = server as unknown as typeof state.server;
      server.on('error', (err: Error, req?: IncomingMessage, res?: ServerResponse | Socket) => {
        if (req !== undefined && res !== undefined) onError(err, req, res);
      });
      server.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => onProxyReq(options, proxyReq, req));
      server.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => onProxyRes(options, proxyRes, req));
    };
    const proxyOptions = buildOptions(target, options.agentFor(target), plugin);
    const middleware = createProxyMiddleware(proxyOptions);

    const onError = (err: Error, req: IncomingMessage, res: ServerResponse | Socket): void => {
      if (!('setHeader' in res)) {
        res.destroy(); // a WebSocket upgrade: there is no HTTP response to write any more
        return;
      }
      if (res.writableEnded || res.destroyed) return; // the client went away; nothing to answer
      const request = req as IncomingMessage & ForwardState;
      if (shouldRetry(err, request, res) && state.server !== undefined) {
        request[RETRIED] = true;
        void state.server.web(req, res, { ...proxyOptions, buffer: Readable.from([]) });
        return;
      }
      const code = classifyUpstreamError(err);
      const wrapped =
        err instanceof PorticoError
          ? err
          : new PorticoError(code, `upstream ${target.origin} failed`, {
              cause: err,
              context: { route: options.route, upstream: target.origin },
            });
      options.hooks.onUpstreamError?.(wrapped, req);
      sendProblem(res, code, { requestId: req.portico?.id, route: options.route });
    };
    return { origin: target.origin, middleware };
  });

  const pick = () => {
    const chosen = targets[next] ?? targets[0];
    next = (next + 1) % targets.length;
    return chosen as (typeof targets)[number];
  };

  const forward: Forward = (req, res) => {
    const target = pick();
    if (req.portico) req.portico.upstream = target.origin;
    void target.middleware(req, res);
  };
  const upgrade: ForwardUpgrade = (req, socket, head) => {
    const target = pick();
    if (req.portico) req.portico.upstream = target.origin;
    target.middleware.upgrade(req, socket, head);
  };
  return { forward, upgrade };
}
