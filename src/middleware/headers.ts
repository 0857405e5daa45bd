/**
 * `headers`: sets or removes request headers (before forwarding) and response headers (before they are sent).
 * Header names are lower-cased and values checked at load, so the handler only assigns.
 */
import { z } from 'zod';
import type { Config, MiddlewareEntryConfig } from '../config/schema.js';
import { removeHeader } from '../proxy/headers.js';
import { defineKind } from './kind.js';

/**
 * Names a `headers` entry may not set or remove: message framing, routing and hop-by-hop fields (RFC 9110 section
 * 7.6.1, RFC 9112 section 6). A configured `content-length` or `transfer-encoding` lets one client's body end where
 * the upstream reads the start of the next request (smuggling, response-queue poisoning); `host` re-routes at the
 * upstream; the rest are per-connection and the proxy owns them. `proxy-authorization` stays allowed: Portico drops
 * the client's, and a config may set its own for an upstream forward proxy.
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'http2-settings',
]);

const NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

function nameIssue(lower: string): string | undefined {
  if (!NAME.test(lower)) return 'must be a valid header name';
  if (RESERVED_HEADERS.has(lower))
    return `"${lower}" is a framing, routing or hop-by-hop header that Portico manages; a headers entry may not set or remove it`;
  return undefined;
}

const headerName = z.string().transform((name, ctx) => {
  const lower = name.toLowerCase();
  const issue = nameIssue(lower);
  if (issue === undefined) return lower;
  ctx.addIssue({ code: 'custom', message: issue });
  return z.NEVER;
});
const headerValue = z.string().regex(/^[\t\x20-\x7e]*$/, 'must be printable ASCII');

/** Names are checked here rather than as record keys, so an error says why (zod reports a bad key only as such). */
const headerSet = z.record(z.string(), headerValue).transform((record, ctx) => {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(record)) {
    const lower = name.toLowerCase();
    const issue = nameIssue(lower);
    if (issue === undefined) out[lower] = value;
    else ctx.addIssue({ code: 'custom', message: issue, path: [name] });
  }
  return out;
});

const sideSchema = z
  .strictObject({
    set: headerSet.default({}),
    remove: z.array(headerName).default([]),
  })
  .prefault({});

export const headersKind = defineKind({
  name: 'headers',
  options: z.strictObject({ request: sideSchema, response: sideSchema }),
  create(options) {
    const requestSet = Object.entries(options.request.set);
    const requestRemove = options.request.remove;
    const responseSet = Object.entries(options.response.set);
    const responseRemove = options.response.remove;
    const touchesResponse = responseSet.length > 0 || responseRemove.length > 0;
    return (req, res, next) => {
      for (const name of requestRemove) removeHeader(req.headers, name);
      for (const [name, value] of requestSet) req.headers[name] = value;
      if (touchesResponse) {
        // writeHead is the last moment every response header (upstream's included) is known and still mutable.
        // Read off the response to chain whatever writeHead it has (another kind may have wrapped it); called below
        // with the response as `this`.
        // eslint-disable-next-line @typescript-eslint/unbound-method -- applied with its own `this`
        const writeHead = res.writeHead;
        res.writeHead = function patchedWriteHead(this: typeof res, ...args: Parameters<typeof writeHead>) {
          for (const name of responseRemove) this.removeHeader(name);
          for (const [name, value] of responseSet) this.setHeader(name, value);
          return writeHead.apply(this, args);
        } as typeof writeHead;
      }
      next();
    };
  },
});

/**
 * Lower-cased names of the headers that any `headers` entry of `config` sets, on either side. Their values come from
 * the config (an upstream's `authorization`, an `x-api-key`), so logs that carry headers mask them by position,
 * whatever they are called.
 */
export function headerNamesSet(config: Config): ReadonlySet<string> {
  const names = new Set<string>();
  const chains: ReadonlyArray<readonly MiddlewareEntryConfig[]> = [
    config.middleware,
    ...config.routes.map((route) => route.middleware),
    config.userLookup.middleware,
  ];
  for (const chain of chains) {
    for (const entry of chain) {
      if (typeof entry === 'string' || !('headers' in entry)) continue;
      const parsed = headersKind.options.safeParse(entry.headers);
      if (!parsed.success) continue;
      for (const side of [parsed.data.request, parsed.data.response])
        for (const name of Object.keys(side.set)) names.add(name);
    }
  }
  return names;
}
