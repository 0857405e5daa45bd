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
 * The client ip: the socket peer, unless the peer is trusted; then the right-most X-Forwarded-For entry that is
 * not itself trusted (entries left of it could be forged by the client). Never includes a port.
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
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress((hops[i] as string).trim());
    if (isIP(hop) === 0) continue; // empty or garbage: not an address anyone vouched for
    if (!isTrusted(trusted, hop)) return hop;
  }
  return peer;
}
