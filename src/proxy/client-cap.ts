/**
 * The per-client cap on requests in flight (`server.maxRequestsPerClient`): a client with that many requests under
 * way gets 429 for the next one until one ends. Without it, a few hundred slow uploads or hanging handshakes from
 * one client hold every pooled upstream socket (`server.upstreamMaxSockets`) and everyone else waits.
 *
 * The client is the address rate limits key on: the peer, or behind `server.trustedProxies` the forwarded client.
 * A WebSocket counts from its handshake until the connection closes. Cost per request when on: two map updates and a
 * shared `close` listener (no closure); when the cap is 0, nothing.
 */
import type { ServerResponse } from 'node:http';

export interface ClientCap {
  /** Counts the request against its client; false (nothing counted) when the client is at `max` already. */
  admit(client: string, res: ServerResponse, max: number): boolean;
}

export function createClientCap(): ClientCap {
  const inFlight = new Map<string, number>();
  function release(this: ServerResponse): void {
    const ctx = this.req.portico;
    const client = ctx?.capClient;
    if (ctx === undefined || client === undefined) return;
    ctx.capClient = undefined;
    const count = inFlight.get(client) ?? 1;
    if (count <= 1) inFlight.delete(client);
    else inFlight.set(client, count - 1);
  }
  return {
    admit(client, res, max) {
      const ctx = res.req.portico;
      const count = inFlight.get(client) ?? 0;
      if (ctx === undefined || count >= max) return false;
      inFlight.set(client, count + 1);
      ctx.capClient = client; // in the request's context (src/context.ts) until the response closes
      res.on('close', release); // a response closes once, finished or cut
      return true;
    },
  };
}
