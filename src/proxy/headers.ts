/**
 * Hop-by-hop and forwarding headers (RFC 9110 section 7.6.1). Order matters: headers nominated in `Connection` are
 * removed first, then Portico sets its own, so `Connection: close, X-Forwarded-For, X-Request-Id` cannot strip what
 * the proxy adds (the Traefik GHSA-62c8-mh53-4cqv / Apache CVE-2022-31813 class).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Always hop-by-hop. `upgrade` is kept only on an upgrade request (handled by the upgrade path). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const HOP_BY_HOP_LIST: readonly string[] = [...HOP_BY_HOP];

/** Headers that a client may never nominate away, whatever it puts in `Connection`. */
const PROTECTED: ReadonlySet<string> = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'traceparent',
  'tracestate',
  'host',
  'content-length',
]);

const NO_TOKENS: readonly string[] = [];
/** The values nearly every message carries, answered without splitting. */
const COMMON_TOKENS: ReadonlyMap<string, readonly string[]> = new Map(
  ['keep-alive', 'close', 'Keep-Alive', 'Close'].map((v) => [v, [v.toLowerCase()]]),
);

function connectionTokens(value: string | string[] | undefined): readonly string[] {
  if (value === undefined) return NO_TOKENS;
  if (typeof value === 'string') {
    const common = COMMON_TOKENS.get(value);
    if (common !== undefined) return common;
  }
  const text = Array.isArray(value) ? value.join(',') : value;
  const tokens: string[] = [];
  for (const raw of text.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token !== '') tokens.push(token);
  }
  return tokens;
}

export interface StripOptions {
  /** Keep `connection`/`upgrade` for a WebSocket handshake. */
  readonly keepUpgrade?: boolean;
  /**
   * Set removed headers to undefined instead of deleting them: for an upstream response's headers, which the engine
   * copies to the client skipping undefined values (test/contracts/httpxy.test.ts). A `delete` turns the object into
   * a slow dictionary (measured: ~0.8 us for a typical response's strip with deletes, ~0.1 us without). Request
   * headers must be deleted: Node's client refuses an undefined header value.
   */
  readonly blank?: boolean;
}

/** Removes hop-by-hop headers in place. Returns whether the sender asked to close (`Connection: close`). */
export function stripHopByHop(
  headers: IncomingHttpHeaders | Record<string, unknown>,
  options: StripOptions = {},
): boolean {
  const { keepUpgrade = false, blank = false } = options;
  const tokens = connectionTokens(headers.connection as string | string[] | undefined);
  let close = false;
  for (const token of tokens) {
    if (token === 'close') close = true;
    if (keepUpgrade && token === 'upgrade') continue;
    if (PROTECTED.has(token) || headers[token] === undefined) continue;
    if (blank) headers[token] = undefined;
    else delete headers[token];
  }
  for (const name of HOP_BY_HOP_LIST) {
    // `delete` of an absent key still costs a lookup and can turn the object into a dictionary: test first.
    if (headers[name] === undefined) continue;
    if (keepUpgrade && (name === 'upgrade' || name === 'connection')) continue;
    if (blank) headers[name] = undefined;
    else delete headers[name];
  }
  return close;
}

/**
 * Deletes a request header only when present: a `delete` of an absent key still costs a lookup (measured ~40 ns
 * each on the hot path) and can turn the header object into a slow dictionary.
 */
export function removeHeader(headers: IncomingHttpHeaders, name: string): void {
  if (headers[name] !== undefined) delete headers[name];
}

/** Forwarding headers an untrusted peer may have forged, dropped rather than passed on. */
const UNTRUSTED_FORWARDING: readonly string[] = ['forwarded', 'x-forwarded-port', 'x-real-ip'];

export interface ForwardedFacts {
  readonly clientIp: string;
  readonly peer: string;
  readonly peerTrusted: boolean;
  readonly requestId: string;
  readonly encrypted: boolean;
}

/** Sets X-Forwarded-For/-Proto/-Host and X-Request-Id on the outgoing copy of the request headers. */
export function setForwarded(req: IncomingMessage, facts: ForwardedFacts): void {
  const headers = req.headers;
  // An HTTP/1.0 request may come without Host: then there is no host to forward (an empty X-Forwarded-Host would
  // be read as one), and a forged one from an untrusted peer is dropped like the rest.
  const host = headers.host === '' ? undefined : headers.host;
  if (facts.peerTrusted) {
    const prior = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior
      ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${facts.peer}`
      : facts.peer;
    if (!headers['x-forwarded-proto']) headers['x-forwarded-proto'] = facts.encrypted ? 'https' : 'http';
    if (!headers['x-forwarded-host'] && host !== undefined) headers['x-forwarded-host'] = host;
  } else {
    headers['x-forwarded-for'] = facts.peer;
    headers['x-forwarded-proto'] = facts.encrypted ? 'https' : 'http';
    if (host !== undefined) headers['x-forwarded-host'] = host;
    else removeHeader(headers, 'x-forwarded-host');
    for (const name of UNTRUSTED_FORWARDING) removeHeader(headers, name);
  }
  headers['x-request-id'] = facts.requestId;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@+=/-]{1,128}$/;

/** A client-sent request id is kept only when short and of a safe charset (it ends up in logs and headers). */
export function saneRequestId(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  return SANE_REQUEST_ID.test(value) ? value : undefined;
}

/**
 * Why a request's transfer coding is refused, or undefined when it is fine. Node's parser already refuses `chunked`
 * not last and Content-Length beside it; it accepts other codings before `chunked` (`gzip, chunked`), which
 * Portico would silently drop when it re-chunks the body, and Transfer-Encoding in HTTP/1.0, whose framing
 * RFC 9112 section 6.1 says to treat as faulty. Only a sole `chunked` is forwarded.
 */
export function transferCodingIssue(req: IncomingMessage): string | undefined {
  const value = req.headers['transfer-encoding'];
  if (value === undefined) return undefined;
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return 'Transfer-Encoding in an HTTP/1.0 request';
  return value.trim().toLowerCase() === 'chunked' ? undefined : 'only the chunked transfer coding is supported';
}

/**
 * Why an upgrade request is refused for its framing, or undefined when it has none. Node hands an upgrade over
 * before reading any body, so body bytes would reach the upstream as if they were the upgraded protocol's, and
 * framing the two sides read differently is a desync; a WebSocket handshake (RFC 6455 section 4.1) has no body.
 */
export function upgradeBodyIssue(req: IncomingMessage): string | undefined {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    return 'an upgrade request carries no body';
  }
  return undefined;
}
