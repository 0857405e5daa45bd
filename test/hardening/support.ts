/**
 * Shared scaffolding for the hardening suite: started things are stopped after each test, and the sockets that
 * Portico holds are counted on both sides: its proxy server (`getConnections`), the upstream's server, and the
 * keep-alive agents Portico's outgoing requests used (found through `node:diagnostics_channel`, so the product
 * needs no test hook).
 */
import diagnostics from 'node:diagnostics_channel';
import type http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { startTestPortico } from '../helpers/portico.js';
import { startUpstream, type TestUpstream, type UpstreamHandler } from '../helpers/upstream.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../helpers/fault-proxy.js';
import type { Portico, PorticoOptions } from '../../src/main.js';

type Closer = () => Promise<void>;
const closers: Closer[] = [];

/** Stops everything the current test started, newest first. Call from `afterEach`. */
export async function stopAll(): Promise<void> {
  for (const close of closers.splice(0).reverse()) await close();
}

export async function upstream(
  handler?: UpstreamHandler,
  options?: { keepAliveTimeout?: number },
): Promise<TestUpstream> {
  const started = await startUpstream(handler, options);
  closers.push(() => started.close());
  return started;
}

export async function faultProxy(targetPort: number, fault?: Fault): Promise<FaultProxy> {
  const started = await startFaultProxy(targetPort, fault);
  closers.push(() => started.close());
  return started;
}

export interface Started {
  readonly portico: Portico;
  readonly port: number;
  /** Portico's proxy listener, for `getConnections`. */
  readonly server: () => http.Server | undefined;
}

const servers = new Map<number, http.Server>();
const agents = new Set<http.Agent>();
diagnostics.subscribe('http.server.request.start', (message) => {
  const { server } = message as { server: http.Server };
  const address = server.address();
  if (address !== null && typeof address === 'object') servers.set(address.port, server);
});
// A connection that only ever upgrades never starts an HTTP request: its server is found from the accepted socket.
diagnostics.subscribe('net.server.socket', (message) => {
  const { socket } = message as { socket: net.Socket & { server?: net.Server } };
  const server = socket.server;
  const address = server?.address();
  if (server !== undefined && address !== null && typeof address === 'object')
    servers.set(address.port, server as http.Server);
});
diagnostics.subscribe('http.client.request.created', (message) => {
  const { request } = message as { request: http.ClientRequest & { agent?: http.Agent } };
  if (request.agent !== undefined && request.agent !== null) agents.add(request.agent);
});

/** Starts Portico with the test defaults; a server section in `yaml` replaces the default one. */
export async function portico(yaml: string, options: Omit<PorticoOptions, 'config'> = {}): Promise<Started> {
  const started = await startTestPortico(yaml, options);
  closers.push(() => started.shutdown());
  const port = Number(new URL(started.proxyUrl).port);
  return { portico: started, port, server: () => servers.get(port) };
}

/** A server section on ephemeral loopback ports plus `extra` lines (indented two spaces by the caller). */
export function serverSection(extra = ''): string {
  return `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n${extra}`;
}

export function connections(server: net.Server | undefined): Promise<number> {
  if (server === undefined) return Promise.resolve(-1);
  return new Promise((resolve, reject) => server.getConnections((err, count) => (err ? reject(err) : resolve(count))));
}

/** Sockets the agents of Portico's outgoing requests to `port` hold, busy and idle. */
export function agentSockets(port: number): number {
  let count = 0;
  for (const agent of agents) {
    for (const [name, list] of [...Object.entries(agent.sockets), ...Object.entries(agent.freeSockets)]) {
      if (name.includes(`:${port}:`) || name.endsWith(`:${port}`)) count += list?.length ?? 0;
    }
  }
  return count;
}

/** Requests waiting in the agents' queues for a socket to `port` (none has a free or new socket for them). */
export function agentQueued(port: number): number {
  let count = 0;
  for (const agent of agents) {
    for (const [name, list] of Object.entries(agent.requests)) {
      if (name.includes(`:${port}:`) || name.endsWith(`:${port}`)) count += list?.length ?? 0;
    }
  }
  return count;
}

/** Polls a (possibly async) reading until it equals `expected`; rejects with the last value after `timeoutMs`. */
export async function settlesTo<T>(
  read: () => T | Promise<T>,
  expected: T,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (last !== expected) {
    if (Date.now() > deadline) throw new Error(`${what}: expected ${expected}, still ${last} after ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    last = await read();
  }
}

/** An open raw socket to Portico that collects what comes back and tells when it closed. */
export async function rawSocket(
  port: number,
): Promise<{ socket: net.Socket; text: () => string; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  closers.push(async () => {
    socket.destroy();
  });
  return { socket, text: () => text, closed };
}

/** Resolves with true when `promise` settles within `ms`, false otherwise (for asserting a bound). */
export function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

/** A plain TCP listener that must never be contacted: it counts connections and bytes. */
export async function tripwire(): Promise<{ port: number; connections: () => number; bytes: () => number }> {
  let count = 0;
  let bytes = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close').catch(() => undefined);
  });
  return { port: (server.address() as net.AddressInfo).port, connections: () => count, bytes: () => bytes };
}
