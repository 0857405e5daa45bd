/**
 * The built-in user lookup route: GET/HEAD `<prefix>:id` → 200 JSON, 304 on a matching If-None-Match, 400 for an
 * id that is not a positive integer, 404 when absent, 503 + Retry-After when the database is down or slow. Every
 * answer carries `Cache-Status` (RFC 9211). Errors are problem+json from the catalogue. The request's abort signal
 * is not used: the database query is shared by every lookup of the id and bounded by its own timeouts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BuiltinRoute, Next } from '../middleware/kind.js';
import { isPorticoError, sendProblem } from '../errors.js';
import type { UserLookupConfig } from './config.js';
import type { LookupResult, UserService } from './service.js';
import { parseUserId } from './user.js';

export const USER_LOOKUP_ROUTE = 'userLookup';
const CACHE_NAME = 'portico';
/** Personal data: shared caches must not keep it; clients revalidate with the ETag. */
const CACHE_CONTROL = 'private, no-cache';

/** The RFC 9211 Cache-Status member for one answer. */
export function cacheStatus(result: LookupResult): string {
  switch (result.outcome) {
    case 'hit':
      return `${CACHE_NAME}; hit`;
    case 'bypass':
      return `${CACHE_NAME}; fwd=bypass`;
    case 'error':
      return `${CACHE_NAME}; fwd=miss; detail=cache-error${result.collapsed ? '; collapsed' : ''}`;
    case 'miss':
      return `${CACHE_NAME}; fwd=miss${result.stored ? '; stored' : ''}${result.collapsed ? '; collapsed' : ''}`;
  }
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored. */
export function notModified(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header === etag || header.trim() === '*') return true;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === etag;
  });
}

/** `userLookup.path` without its `:id`: what every lookup path starts with. */
function prefixOf(config: UserLookupConfig): string {
  return config.path.slice(0, -':id'.length);
}

function retryAfterOf(config: UserLookupConfig): string {
  return String(Math.ceil(config.retryAfter / 1000));
}

/** The route predicate: GET or HEAD of `<prefix><one segment>`. */
function lookupMatcher(prefix: string): BuiltinRoute['matches'] {
  return (method, path) =>
    (method === 'GET' || method === 'HEAD') &&
    path.length > prefix.length &&
    path.startsWith(prefix) &&
    !path.includes('/', prefix.length);
}

export function userLookupRoute(config: UserLookupConfig, service: UserService): BuiltinRoute {
  const prefix = prefixOf(config);
  const retryAfter = retryAfterOf(config);
  const matches = lookupMatcher(prefix);

  const handler = async (req: IncomingMessage, res: ServerResponse, next: Next): Promise<void> => {
    const fields = { requestId: req.portico?.id, route: USER_LOOKUP_ROUTE };
    const url = req.url as string; // always set on a server-side request
    const query = url.indexOf('?');
    const id = parseUserId(url.slice(prefix.length, query === -1 ? undefined : query));
    if (id === undefined) {
      sendProblem(res, 'PORTICO_INVALID_USER_ID', fields, { detail: 'user id must be a positive integer' });
      return;
    }
    let result: LookupResult;
    try {
      result = await service.lookup(id);
    } catch (err) {
      if (!isPorticoError(err)) return next(err);
      req.portico?.log.debug({ err, userId: id }, 'user lookup unavailable'); // the service warns, throttled
      sendProblem(res, err.code, fields, { headers: { ...err.headers, 'retry-after': retryAfter } });
      return;
    }
    if (res.destroyed) return;
    const status = cacheStatus(result);
    if (result.value === null) {
      sendProblem(res, 'PORTICO_USER_NOT_FOUND', fields, { headers: { 'cache-status': status } });
      return;
    }
    const { json, etag } = result.value;
    if (notModified(req.headers['if-none-match'], etag)) {
      res.writeHead(304, { etag, 'cache-status': status, 'cache-control': CACHE_CONTROL }).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      etag,
      'cache-status': status,
      'cache-control': CACHE_CONTROL,
    });
    res.end(json); // HEAD: Node sends the headers only
  };

  return { name: USER_LOOKUP_ROUTE, matches, middleware: config.middleware, handler, template: config.path };
}

/** Stands in for the user lookup while its database cannot be reached: 503 with Retry-After. */
export function unavailableLookupRoute(config: UserLookupConfig): BuiltinRoute {
  const retryAfter = retryAfterOf(config);
  return {
    name: USER_LOOKUP_ROUTE,
    matches: lookupMatcher(prefixOf(config)),
    middleware: config.middleware,
    template: config.path,
    handler: (req, res) =>
      sendProblem(
        res,
        'PORTICO_DATABASE_UNAVAILABLE',
        { requestId: req.portico?.id, route: USER_LOOKUP_ROUTE },
        { headers: { 'retry-after': retryAfter } },
      ),
  };
}

/**
 * The lookup route of a process whose lookup may not be set up yet: `service()` is read per request, so a lookup
 * whose database came up after start serves without a reload; until then it answers as `unavailableLookupRoute`.
 */
export function pendingLookupRoute(config: UserLookupConfig, service: () => UserService | undefined): BuiltinRoute {
  const fallback = unavailableLookupRoute(config);
  let live: BuiltinRoute | undefined;
  return {
    ...fallback,
    handler: (req, res, next) => {
      const ready = service();
      if (ready === undefined) return fallback.handler(req, res, next);
      live ??= userLookupRoute(config, ready);
      return live.handler(req, res, next);
    },
  };
}
