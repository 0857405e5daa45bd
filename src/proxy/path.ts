/**
 * Request-target checks done before routing. Portico does not normalise paths (a normalising proxy and an upstream
 * that normalise differently is how path-confusion bugs are born); it refuses the ambiguous ones instead: dot
 * segments (raw or percent-encoded, and Tomcat's `..;`), backslashes, encoded slashes, NUL, empty segments (`//`,
 * which many upstreams merge and `new URL()` reads as a host) and percent-encoded unreserved characters (RFC 3986
 * section 2.3: most upstreams decode `/%6cogin` to `/login`, while a route prefix compares the raw text, so the
 * request would miss the /login route and its middleware yet reach the same upstream path). Only origin-form
 * targets are accepted, so nothing in the request line can name another host; a fragment (`#`) is not part of one
 * (RFC 9112 section 3.2.1) and Node's parser lets it through, so `/login#` would miss the /login prefix while the
 * upstream, dropping the fragment, serves `/login`.
 */
import type { IncomingMessage } from 'node:http';

const AMBIGUOUS = /\\|%2f|%5c|%00|%25|\/\//i;
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|;|$)/i;
/** `%41`-`%5A`, `%61`-`%7A`, `%30`-`%39`, `%2D`, `%2E`, `%5F`, `%7E`. */
const ENCODED_UNRESERVED = /%(?:[46][1-9a-f]|[57][0-9a]|3[0-9]|2[de]|5f|7e)/i;

/** The path of an origin-form target, or undefined when the target must be refused with 400. */
export function safePath(url: string): string | undefined {
  if (url.charCodeAt(0) !== 47 /* / */ || url.includes('#')) return undefined;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (AMBIGUOUS.test(path) || DOT_SEGMENT.test(path) || ENCODED_UNRESERVED.test(path)) return undefined;
  return path;
}

/** A host name or IPv4 address, or a bracketed IPv6 literal, with an optional port (RFC 9110 section 7.2). */
const HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Why a request's Host is refused (RFC 9112 section 3.2: more than one Host line, or an invalid value, is a 400),
 * or undefined when it is fine. Hosts route requests and end up in X-Forwarded-Host, so `a@b`, `x/y` or a second
 * Host line that another parser might prefer are refused rather than passed on. A missing Host is Node's to refuse
 * (HTTP/1.1) or to allow (HTTP/1.0).
 */
export function hostIssue(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (host === undefined) return undefined;
  if (!HOST.test(host)) return 'invalid Host header';
  const raw = req.rawHeaders;
  let lines = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') lines++;
  }
  return lines > 1 ? 'more than one Host header' : undefined;
}

/** A request target without its query string (which may carry secrets): the path logs and metrics show. */
export function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}
