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
 * One upstream URL or a non-empty list of them (round robin), always returned as a list. A base path is stored with
 * a trailing slash (`/base` → `/base/`): the forwarding engine joins `/base` and `/` into `/base` but `/base` and
 * `/?q=1` into `/base/?q=1`, so with `stripPrefix` the route root would reach two different upstream paths
 * depending on the query string. As a directory, the root is `/base/` either way.
 */
export const upstreamList = z
  .union([z.string(), z.array(z.string()).min(1)], { error: 'must be an http(s) URL or a list of them' })
  .transform((value, ctx) => {
    const texts = Array.isArray(value) ? value : [value];
    const urls: URL[] = [];
    texts.forEach((text, index) => {
      const parsed = httpUrl.safeParse(text);
      if (parsed.success) urls.push(withDirectoryPath(parsed.data));
      else
        ctx.addIssue({
          code: 'custom',
          message: parsed.error.issues[0]?.message ?? 'invalid URL',
          path: Array.isArray(value) ? [index] : [],
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
