/**
 * Shared scaffolding for the hardening suite: started things are stopped after each test, and the sockets that
 * Portico holds are counted on both sides: its proxy server (`getConnections`), the upstream's server, and the
 * keep-alive agents Portico's outgoing requests used (found through `node:diagnostics_channel`, so the product
 * needs no test hook).
 */
import diagnostics from 'node:diagnostics_channel';
import type http from 'node:http';
import net from 'node:net';
import { openRawSocket, type RawSocket } from '../helpers/http.js';
import { startTestPortico } from '../helpers/portico.js';
import { startUpstream, type TestUpstream, type UpstreamHandler } from '../helpers/upstream.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../helpers/fault-proxy.js';
import type { Portico, PorticoOptions } from '../../src/main.js';
import { WAIT_TIMEOUT_MS, waitForValue } from '../helpers/wait.js';

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

/** Outgoing requests of this process not yet closed, by path (Portico's forwards; the tests' own requests too). */
const inFlight = new Map<string, number>();
const made = new Map<string, number>();
diagnostics.subscribe('http.client.request.created', (message) => {
  const { request } = message as { request: http.ClientRequest & { agent?: http.Agent } };
  if (request.agent !== undefined && request.agent !== null) agents.add(request.agent);
  const path = request.path;
  inFlight.set(path, (inFlight.get(path) ?? 0) + 1);
  made.set(path, (made.get(path) ?? 0) + 1);
  request.once('close', () => inFlight.set(path, (inFlight.get(path) ?? 1) - 1));
});

/**
 * Outgoing requests to `path` still open in this process: a forward Portico started and has not finished (answered
 * or aborted). Zero after an exchange means anything forwarded for it has landed: a test can then check the
 * upstream without sleeping first.
 */
export function outgoingOpen(path: string): number {
  return inFlight.get(path) ?? 0;
}

/** Outgoing requests to `path` made so far by this process, open or closed. */
export function outgoingMade(path: string): number {
  return made.get(path) ?? 0;
}

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
  timeoutMs = WAIT_TIMEOUT_MS,
): Promise<void> {
  await waitForValue(read, expected, what, { timeoutMs });
}

/** An open raw socket to Portico that collects what comes back and tells when it closed; destroyed after the test. */
export async function rawSocket(port: number): Promise<RawSocket> {
  const raw = await openRawSocket(port);
  closers.push(async () => {
    raw.socket.destroy();
  });
  return raw;
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

/** A plain TCP listener that must never be contacted (a black-hole fault proxy): it counts connections and bytes. */
export async function tripwire(): Promise<{ port: number; connections: () => number; bytes: () => number }> {
  const hole = await faultProxy(0, { kind: 'blackhole' });
  return { port: hole.port, connections: hole.accepted, bytes: hole.bytesFromClient };
}
