/**
 * Express's request and response for the routes that run an `express` entry, made when the request reaches the
 * first such entry and never before: as Express 5's `app.handle` does, the request and response get the app's
 * prototypes (`app.request`, `app.response`), `res.locals` and the circular references. The objects stay the same
 * ones, so the built-in kinds after the entry and the forwarder see them unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import express, { type Express, type Request, type Response } from 'express';
import { normalizeAddress, isTrusted } from '../../proxy/client-ip.js';
import { requestTrace } from '../../tracing/request-trace.js';

/**
 * What Portico puts on `res.locals` for the middleware (documented in the README, "Your own middleware"). Plain
 * data, computed once when the request is adopted.
 */
export interface PorticoLocals {
  readonly requestId: string | undefined;
  /** The client address Portico derived with `server.trustedProxies` (the same as `req.ip`). */
  readonly clientIp: string | undefined;
  readonly route: string | undefined;
  /** W3C `traceparent` of the request's span when the `tracing` kind ran before, else the client's, if any. */
  readonly traceparent: string | undefined;
}

/**
 * One Express application per loaded config: it carries the settings Express's getters read. `req.ip` answers
 * Portico's client address (X-Forwarded-For was already rewritten at the edge, so Express's own reading of it
 * would see Portico's header); 'trust proxy' uses the same trusted list for `req.ips`, `req.protocol`, `req.hostname`.
 */
export function createExpressApp(trusted: BlockList | undefined): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', (address: string) => isTrusted(trusted, normalizeAddress(address)));
  Object.defineProperty(app.request, 'ip', {
    configurable: true,
    enumerable: true,
    get(this: Request): string | undefined {
      return this.portico?.clientIp ?? this.socket.remoteAddress;
    },
  });
  return app;
}

function traceparentOf(req: IncomingMessage): string | undefined {
  const recorded = requestTrace(req)?.traceparent;
  if (recorded !== undefined && recorded !== null) return recorded;
  const header = req.headers.traceparent;
  return typeof header === 'string' ? header : undefined;
}

/** Gives `req`/`res` Express's prototypes once per request (later entries find them adopted). */
export function adopt(req: IncomingMessage, res: ServerResponse, app: Express): void {
  if (Object.getPrototypeOf(req) === app.request) return;
  Object.setPrototypeOf(req, app.request);
  Object.setPrototypeOf(res, app.response);
  const request = req as Request;
  const response = res as Response;
  request.res = response;
  // Express's router sets these as it walks; a middleware mounted at the root sees exactly this.
  request.originalUrl = req.url as string;
  request.baseUrl = '';
  request.params = {};
  const ctx = req.portico;
  const locals: PorticoLocals = {
    requestId: ctx?.id,
    clientIp: ctx?.clientIp,
    route: ctx?.route,
    traceparent: traceparentOf(req),
  };
  response.locals = { portico: locals };
}
