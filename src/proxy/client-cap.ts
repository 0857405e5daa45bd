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

const CLIENT = Symbol('portico.capClient');

interface Counted {
  [CLIENT]?: string | undefined;
}

export interface ClientCap {
  /** Counts the request against its client; false (nothing counted) when the client is at `max` already. */
  admit(client: string, res: ServerResponse, max: number): boolean;
}

export function createClientCap(): ClientCap {
  const inFlight = new Map<string, number>();
  function release(this: ServerResponse & Counted): void {
    const client = this[CLIENT];
    if (client === undefined) return;
    this[CLIENT] = undefined;
    const count = inFlight.get(client) ?? 1;
    if (count <= 1) inFlight.delete(client);
    else inFlight.set(client, count - 1);
  }
  return {
    admit(client, res, max) {
      const count = inFlight.get(client) ?? 0;
      if (count >= max) return false;
      inFlight.set(client, count + 1);
      (res as ServerResponse & Counted)[CLIENT] = client;
      res.on('close', release); // a response closes once, finished or cut
      return true;
    },
  };
}
