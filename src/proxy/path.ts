/**
 * Request-target checks done before routing. Portico does not normalise paths (a normalising proxy and an upstream
 * that normalise differently is how path-confusion bugs are born); it refuses the ambiguous ones instead: dot
 * segments (raw or percent-encoded), backslashes, encoded slashes and NUL. Only origin-form targets are accepted,
 * so nothing in the request line can name another host.
 */
const AMBIGUOUS = /\\|%2f|%5c|%00|%25/i;
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;

/** The path of an origin-form target, or undefined when the target must be refused with 400. */
export function safePath(url: string): string | undefined {
  if (url.charCodeAt(0) !== 47 /* / */) return undefined;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (AMBIGUOUS.test(path) || DOT_SEGMENT.test(path)) return undefined;
  return path;
}
