/**
 * Fixtures for the user-lookup integration tests: unique PostgreSQL schemas, a private redis-server child process
 * (killed by its pid), a TCP proxy that can be cut, a listener that never answers, recording metrics and a log
 * capture. Everything binds 127.0.0.1. The servers and proxies are the suite's (test/helpers/), re-exported.
 */
import type { Redis } from 'ioredis';
import pg from 'pg';
import type pino from 'pino';
import { noopMetrics, type CacheEvent, type Metrics } from '../../src/telemetry/metrics.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { captureLogs } from '../helpers/logs.js';

export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A name no other test file or run uses: letters, digits and _ only (valid SQL identifier, Redis key part). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export async function sql(text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

export { sparePort } from '../helpers/ports.js';
export { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

/** Forwards to `targetPort`; `cut()` refuses new connections and resets the open ones (a dead database host). */
export async function startTcpProxy(targetPort: number): Promise<{ port: number; cut(): Promise<void> }> {
  return startFaultProxy(targetPort);
}

/** Accepts connections and never says a word: a hung database host. */
export async function startBlackHole(): Promise<{ port: number; close(): Promise<void> }> {
  // The target is never contacted by a black hole.
  return startFaultProxy(0, { kind: 'blackhole' });
}

/**
 * Holds work at a point until released: `hold()` arms it and resolves once some work reached `pass()`; that work
 * (and any later) waits in `pass()` until `release()`. Used to make a database answer late after its read.
 */
export class Gate {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private arrived: (() => void) | undefined;

  hold(): Promise<void> {
    this.gate = new Promise((resolve) => (this.open = resolve));
    return new Promise((resolve) => (this.arrived = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  async pass(): Promise<void> {
    this.arrived?.();
    if (this.gate) await this.gate;
  }
}

/** Deletes the keys a test wrote under its own prefix. */
export async function clearKeys(client: Redis, prefix: string): Promise<void> {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
}

export function recordingMetrics(): Metrics & { events: CacheEvent[]; queries: boolean[] } {
  const events: CacheEvent[] = [];
  const queries: boolean[] = [];
  return {
    ...noopMetrics,
    events,
    queries,
    cache: (event) => events.push(event),
    dbQuery: (_seconds, ok) => queries.push(ok),
  };
}

export function capturedLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  return captureLogs('debug');
}
