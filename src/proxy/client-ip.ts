/**
 * Client address and X-Forwarded-* handling. A peer's forwarded headers are believed only when the peer is in
 * `server.trustedProxies`; from anyone else they are replaced, so a client cannot pick its rate-limit key or
 * smuggle `X-Forwarded-Host: evil.example` to the upstream.
 */
import { isIP, type BlockList } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** `::ffff:10.0.0.1` → `10.0.0.1`, so one client has one key whatever the socket family. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function familyOf(address: string): 'ipv4' | 'ipv6' {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

export function isTrusted(trusted: BlockList | undefined, address: string): boolean {
  if (trusted === undefined || address === '') return false;
  try {
    return trusted.check(address, familyOf(address));
  } catch {
    return false; // not an IP at all (garbage in X-Forwarded-For)
  }
}

/**
 * The client ip: the socket peer, unless the peer is trusted; then X-Forwarded-For is walked from the right and the
 * first entry that is not a trusted address ends the walk. An address there is the client; anything else (garbage,
 * an empty entry) is the client's own word, so the walk does not go past it and the last trusted hop's view stands
 * (the trusted address right of it, or the peer). Entries may carry a port (`ip:port`, `[v6]:port`, as some load
 * balancers append them); the result never does.
 */
export function clientIp(req: IncomingMessage, trusted: BlockList | undefined): string {
  const peer = normalizeAddress(req.socket.remoteAddress ?? '');
  return clientIpFrom(req, peer, isTrusted(trusted, peer), trusted);
}

/** `clientIp` for a caller that already knows the peer and whether it is trusted (the edge needs both anyway). */
export function clientIpFrom(
  req: IncomingMessage,
  peer: string,
  peerTrusted: boolean,
  trusted: BlockList | undefined,
): string {
  if (!peerTrusted) return peer;
  const header = req.headers['x-forwarded-for'];
  if (header === undefined) return peer;
  const hops = (Array.isArray(header) ? header.join(',') : header).split(',');
  let view = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = forwardedAddress(hops[i] as string);
    if (hop === undefined) return view;
    if (!isTrusted(trusted, hop)) return hop;
    view = hop;
  }
  return view;
}

const PORT = /^:\d{1,5}$/;

/** The address of one X-Forwarded-For entry (`ip`, `ip:port`, `[v6]`, `[v6]:port`), or undefined for anything else. */
export function forwardedAddress(entry: string): string | undefined {
  const text = entry.trim();
  if (isIP(text) !== 0) return normalizeAddress(text);
  if (text.charCodeAt(0) === 91 /* [ */) {
    const close = text.indexOf(']');
    const rest = text.slice(close + 1);
    const inner = text.slice(1, close);
    if (close === -1 || (rest !== '' && !PORT.test(rest)) || isIP(inner) !== 6) return undefined;
    return normalizeAddress(inner);
  }
  const colon = text.indexOf(':');
  if (colon === -1 || text.indexOf(':', colon + 1) !== -1 || !PORT.test(text.slice(colon))) return undefined;
  const address = text.slice(0, colon);
  return isIP(address) === 4 ? address : undefined;
}
