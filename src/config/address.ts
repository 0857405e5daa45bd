import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { redactUnparsedUrl, redactUrl } from './redact-url.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, `[::1]:port` or `:port` (all interfaces). Port 0 asks the OS for a free port (tests). */
export function parseListen(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export const listenAddress = z.string().transform((value, ctx) => {
  const parsed = parseListen(value);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `invalid listen address "${value}" (use host:port)` });
    return z.NEVER;
  }
  return parsed;
});

/** An absolute http(s) URL, parsed once at load into a URL object (the proxy reuses it per request). */
export const httpUrl = z.string({ error: 'must be an http(s) URL' }).transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `invalid URL "${redactUnparsedUrl(value)}"` });
    return z.NEVER;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({
      code: 'custom',
      message: `unsupported URL scheme "${url.protocol}" in "${redactUrl(value)}" (use http or https)`,
    });
    return z.NEVER;
  }
  return url;
});

/**
 * An upstream URL with its balancing weight (1 unless the entry says `{ url, weight }`). A URL subclass, so every
 * reader of a route's upstreams that wants only the address keeps reading a URL.
 */
export class UpstreamUrl extends URL {
  constructor(
    url: URL,
    readonly weight: number,
  ) {
    super(url.href);
  }

  /** The effective config (`/config`, the config hash) shows the weight only where the file gave one. */
  override toJSON(): string {
    return this.weight === 1 ? this.href : JSON.stringify({ url: this.href, weight: this.weight });
  }
}

const weightedEntry = z.strictObject({
  url: z.string().describe('The upstream, an http(s) URL.'),
  weight: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(1)
    .describe('Share of requests relative to the other upstreams of the route (1 to 1000).'),
});

const upstreamEntry = z.union([z.string(), weightedEntry], {
  error: 'must be an http(s) URL or { url, weight }',
});

/**
 * One upstream URL or a non-empty list of them (a URL or `{ url, weight }` each), always returned as a list. A base
 * path is stored with a trailing slash (`/base` → `/base/`): the forwarding engine joins `/base` and `/` into
 * `/base` but `/base` and `/?q=1` into `/base/?q=1`, so with `stripPrefix` the route root would reach two different
 * upstream paths depending on the query string. As a directory, the root is `/base/` either way.
 */
export const upstreamList = z
  .union([upstreamEntry, z.array(upstreamEntry).min(1)], { error: 'must be an http(s) URL or a list of them' })
  .transform((value, ctx) => {
    const entries = Array.isArray(value) ? value : [value];
    const urls: UpstreamUrl[] = [];
    entries.forEach((entry, index) => {
      const text = typeof entry === 'string' ? entry : entry.url;
      const parsed = httpUrl.safeParse(text);
      const at = Array.isArray(value) ? [index] : [];
      if (parsed.success)
        urls.push(new UpstreamUrl(withDirectoryPath(parsed.data), typeof entry === 'string' ? 1 : entry.weight));
      else
        ctx.addIssue({
          code: 'custom',
          message: parsed.error.issues[0]?.message ?? 'invalid URL',
          path: typeof entry === 'string' ? at : [...at, 'url'],
        });
    });
    return urls;
  });

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether a bind host is loopback: an IP literal in 127.0.0.0/8 or ::1 (any spelling, IPv4-mapped included), or
 * `localhost`. Any other name is not, whatever it looks like: `127.attacker.example` resolves to what its owner says.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

function withDirectoryPath(url: URL): URL {
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}
