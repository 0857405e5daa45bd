/**
 * A small TCP fault proxy for tests: it sits between Portico and a dependency on 127.0.0.1 and injects faults
 * into the byte stream. The fault applies to connections accepted after `set()`; `poisonOpen()` breaks the ones
 * already open (a stale pooled socket: the next request on it meets a reset); `cut()` kills the host outright.
 *
 * - `pass`: forwards both ways untouched.
 * - `delay`: holds every chunk `ms` in each direction (order kept), and the connect to the target too.
 * - `cut`: forwards up to `afterBytes` of the target's answer, then ends both sides cleanly (FIN).
 * - `reset`: as `cut`, but aborts both sides with a TCP reset (RST); `afterBytes: 0` resets on the first byte.
 * - `blackhole`: accepts, reads and drops everything, never connects to the target, never answers.
 */
import net from 'node:net';
import { once } from 'node:events';

export type Fault =
  | { readonly kind: 'pass' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'cut'; readonly afterBytes: number }
  | { readonly kind: 'reset'; readonly afterBytes: number }
  | { readonly kind: 'blackhole' };

export interface FaultProxy {
  readonly port: number;
  readonly url: string;
  /** Connections accepted so far. */
  readonly accepted: () => number;
  /** Connections open now (client side). */
  readonly open: () => number;
  /** Bytes received from the client side so far (what reached the proxy, whatever the fault did with it). */
  readonly bytesFromClient: () => number;
  set(fault: Fault): void;
  /** Every open connection resets (RST) when its client next sends a byte; nothing of it reaches the target. */
  poisonOpen(): void;
  /** A host that died: stops listening (new connections are refused) and resets every open connection. */
  cut(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  target?: net.Socket;
  poisoned: boolean;
}

function destroyPair(pair: Pair, reset: boolean): void {
  for (const socket of [pair.client, pair.target]) {
    if (socket === undefined || socket.destroyed) continue;
    if (reset) socket.resetAndDestroy();
    else socket.destroy();
  }
}

/** Forwards target → client under the fault; returns how the pair ends once the byte budget is spent. */
function pipeAnswer(pair: Pair, target: net.Socket, fault: Fault): void {
  let sent = 0;
  target.on('data', (chunk: Buffer) => {
    if (fault.kind === 'cut' || fault.kind === 'reset') {
      const room = fault.afterBytes - sent;
      if (room > 0) pair.client.write(chunk.subarray(0, room));
      sent += chunk.length;
      if (sent >= fault.afterBytes) {
        if (fault.kind === 'reset') destroyPair(pair, true);
        else {
          pair.client.end();
          target.destroy();
        }
      }
      return;
    }
    if (fault.kind === 'delay') setTimeout(() => pair.client.write(chunk), fault.ms);
    else pair.client.write(chunk);
  });
  target.on('end', () => {
    if (fault.kind === 'delay') setTimeout(() => pair.client.end(), fault.ms);
    else pair.client.end();
  });
}

export async function startFaultProxy(targetPort: number, initial: Fault = { kind: 'pass' }): Promise<FaultProxy> {
  let fault = initial;
  let accepted = 0;
  let fromClient = 0;
  const pairs = new Set<Pair>();

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const pair: Pair = { client, poisoned: false };
    const current = fault;
    pairs.add(pair);
    client.on('close', () => {
      pairs.delete(pair);
      pair.target?.destroy();
    });
    client.on('error', () => destroyPair(pair, false));
    const pending: Buffer[] = [];
    let clientEnded = false;
    client.on('data', (chunk: Buffer) => {
      fromClient += chunk.length;
      if (pair.poisoned) {
        destroyPair(pair, true);
        return;
      }
      if (current.kind === 'blackhole') return;
      const target = pair.target;
      if (target === undefined || target.connecting) pending.push(chunk);
      else if (current.kind === 'delay') setTimeout(() => target.write(chunk), current.ms);
      else target.write(chunk);
    });
    client.on('end', () => {
      clientEnded = true;
      if (current.kind === 'blackhole') client.end();
      else if (pair.target !== undefined && !pair.target.connecting) pair.target.end();
    });
    if (current.kind === 'blackhole') return;

    const connect = (): void => {
      if (client.destroyed) return;
      const target = net.connect(targetPort, '127.0.0.1');
      pair.target = target;
      target.on('error', () => destroyPair(pair, false));
      target.on('close', () => {
        if (!client.destroyed && client.writableEnded === false && current.kind !== 'delay') client.destroy();
      });
      target.on('connect', () => {
        for (const chunk of pending.splice(0)) target.write(chunk);
        if (clientEnded) target.end();
      });
      pipeAnswer(pair, target, current);
    };
    if (current.kind === 'delay') setTimeout(connect, current.ms);
    else connect();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const stop = async (reset: boolean): Promise<void> => {
    if (!server.listening) return;
    const closed = once(server, 'close').catch(() => undefined);
    server.close();
    for (const pair of pairs) destroyPair(pair, reset);
    pairs.clear();
    await closed;
  };

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    open: () => pairs.size,
    bytesFromClient: () => fromClient,
    set(next) {
      fault = next;
    },
    poisonOpen() {
      for (const pair of pairs) pair.poisoned = true;
    },
    async cut() {
      await stop(true);
    },
    async close() {
      await stop(false);
    },
  };
}
