/**
 * The Redis task store: a Stream per route read by one consumer group that every Portico instance joins, so each
 * task goes to one instance at a time; the entry is acknowledged (XACK) when the attempt's outcome is recorded.
 * An instance that dies leaves its entries pending: after `claimIdle` another instance takes them over
 * (XAUTOCLAIM). Retries wait in a sorted set and go back into the stream when due; dead letters are a stream of
 * their own. The request itself lives in a hash per task (the stream entry only names it), expiring after
 * `retention`; both streams are trimmed to `retention` as they grow (XADD MINID).
 *
 * Keys: `<keyPrefix>{<route>}:stream|delayed|dead|task:<id>|key:<Idempotency-Key>`; the hash tag keeps a route's
 * keys in one Cluster slot, which each script needs.
 *
 * Failure bounds are the client's (no offline queue, bounded command time, a command never re-sent): a dead Redis
 * rejects at once with PORTICO_STORE_UNAVAILABLE (the accept answers 503 with Retry-After). One case is
 * unknowable: a connection lost after Redis ran the accept script and before its reply came back answers 503 for
 * a task that was stored; a client that retries with the same `Idempotency-Key` gets that task, not a second one.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { PorticoError } from '../errors.js';
import type { RedisClient } from '../stores/connect.js';
import { SCRIPTS, type ScriptName } from './redis-scripts.js';
import { statusReady as whenReady } from '../stores/redis.js';
import type { Accepted, Claim, DeadLetter, Finish, TaskRecord, TaskState, TaskStatus, TaskStore } from './types.js';

const GROUP = 'portico';
/** Due retries moved back per script call at most. */
const PROMOTE_BATCH = 500;

type ScriptFn = (...args: (string | number | Buffer)[]) => Promise<unknown>;

export interface RedisStoreOptions {
  readonly route: string;
  readonly keyPrefix: string;
  readonly retention: number;
  readonly claimIdle: number;
  /** How often due retries are looked for (ms): the retry delay's resolution. */
  readonly promoteEvery: number;
  /** Commands (never blocked). */
  readonly client: RedisClient;
  /** This store's own connection for the blocking XREADGROUP; closed by `close`. */
  readonly reader: RedisClient;
}

/** Registers the scripts on a client once (EVALSHA, falling back to EVAL after a script flush or a restart). */
export function defineScripts(client: RedisClient): void {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
}

function unavailable(route: string, what: string, err: unknown): PorticoError {
  return new PorticoError('PORTICO_STORE_UNAVAILABLE', `task store (redis) ${what} failed for route ${route}`, {
    cause: err,
    context: { route },
    headers: { 'retry-after': '1' },
  });
}

function fieldsOf(flat: readonly Buffer[]): Map<string, Buffer> {
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set((flat[i] as Buffer).toString(), flat[i + 1] as Buffer);
  return fields;
}

function text(fields: Map<string, Buffer | string | null>, name: string): string {
  const value = fields.get(name);
  return value === undefined || value === null ? '' : value.toString();
}

function statusFrom(id: string, fields: Map<string, Buffer | string | null>): TaskStatus {
  const lastStatus = text(fields, 'lastStatus');
  const lastError = text(fields, 'lastError');
  return {
    id,
    status: text(fields, 'status') as TaskState,
    attempts: Number(text(fields, 'attempts') || 0),
    lastStatus: lastStatus === '' ? null : Number(lastStatus),
    lastError: lastError === '' ? null : lastError,
    createdAt: new Date(Number(text(fields, 'createdAt'))).toISOString(),
    updatedAt: new Date(Number(text(fields, 'updatedAt'))).toISOString(),
  };
}

interface Entry {
  readonly entry: string;
  /** The task the entry names; undefined for an entry deleted by trimming (XAUTOCLAIM reports it without fields). */
  readonly id: string | undefined;
}

function entryOf([entry, fields]: [string, string[] | null]): Entry {
  return { entry, id: fields?.[1] };
}

const STATUS_FIELDS = ['status', 'attempts', 'lastStatus', 'lastError', 'createdAt', 'updatedAt', 'method', 'path'];

export class RedisTaskStore implements TaskStore {
  readonly kind = 'redis';
  private readonly base: string;
  private readonly stream: string;
  private readonly delayed: string;
  private readonly dead: string;
  private readonly consumer = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private nextPromote = 0;
  private nextClaim = 0;
  private groupReady = false;
  /** Where the next XAUTOCLAIM scan of the pending list starts: each call scans a bounded window of it. */
  private claimCursor = '0-0';

  constructor(private readonly options: RedisStoreOptions) {
    this.base = `${options.keyPrefix}{${options.route}}:`;
    this.stream = `${this.base}stream`;
    this.delayed = `${this.base}delayed`;
    this.dead = `${this.base}dead`;
    defineScripts(options.client);
  }

  private script(name: ScriptName, buffers = false): ScriptFn {
    const client = this.options.client as unknown as Record<string, ScriptFn>;
    return (client[buffers ? `${name}Buffer` : name] as ScriptFn).bind(client);
  }

  private hash(id: string): string {
    return `${this.base}task:${id}`;
  }

  /** Stream entries older than `retention` may be trimmed: the MINID of an XADD. */
  private cutoff(now: number): string {
    return `${Math.max(0, now - this.options.retention)}-0`;
  }

  async accept(task: TaskRecord): Promise<Accepted> {
    const now = Date.now();
    const keyKey = `${this.base}key:${task.clientKey === '' ? task.id : task.clientKey}`;
    let reply: unknown;
    try {
      reply = await this.script('taskAccept')(
        this.stream,
        this.hash(task.id),
        keyKey,
        task.id,
        this.options.retention,
        this.cutoff(now),
        task.clientKey === '' ? '0' : '1',
        ...taskFields(task, now),
      );
    } catch (err) {
      throw unavailable(this.options.route, 'accept', err);
    }
    const [id, duplicate] = reply as [string, number];
    return { id, duplicate: duplicate === 1 };
  }

  async take(max: number, waitMs: number): Promise<Claim[]> {
    const now = Date.now();
    const claims: Claim[] = [];
    try {
      await this.ensureGroup();
      if (now >= this.nextPromote) {
        this.nextPromote = now + this.options.promoteEvery;
        await this.script('taskPromote')(this.delayed, this.stream, now, PROMOTE_BATCH, this.cutoff(now));
      }
      if (now >= this.nextClaim) {
        this.nextClaim = now + Math.max(250, Math.floor(this.options.claimIdle / 4));
        claims.push(...(await this.begin(await this.claimIdle(max), now)));
      }
      if (claims.length < max) {
        // A reader still connecting (at start, after a Redis restart) would fail the read at once: wait for it.
        if (this.options.reader.status !== 'ready') await whenReady(this.options.reader, waitMs);
        const block = claims.length > 0 ? 0 : Math.max(1, Math.min(waitMs, this.nextPromote - Date.now()));
        claims.push(...(await this.begin(await this.read(max - claims.length, block), Date.now())));
      }
    } catch (err) {
      if (String(err).includes('NOGROUP')) this.groupReady = false; // the stream was lost (an empty Redis)
      if (claims.length > 0) return claims; // taken already: deliver them, the error shows on the next take
      throw unavailable(this.options.route, 'take', err);
    }
    return claims;
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      await this.options.client.xgroup('CREATE', this.stream, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
    this.groupReady = true;
  }

  /** Entries of instances that held them longer than `claimIdle` without finishing (died, or hung). */
  private async claimIdle(max: number): Promise<Entry[]> {
    const reply = (await this.options.client.xautoclaim(
      this.stream,
      GROUP,
      this.consumer,
      this.options.claimIdle,
      this.claimCursor,
      'COUNT',
      max,
    )) as [string, Array<[string, string[] | null]>, string[]];
    this.claimCursor = reply[0];
    return reply[1].map(entryOf);
  }

  private async read(max: number, block: number): Promise<Entry[]> {
    const args = ['GROUP', GROUP, this.consumer, 'COUNT', max] as const;
    const reply =
      block > 0
        ? await this.options.reader.xreadgroup(...args, 'BLOCK', block, 'STREAMS', this.stream, '>')
        : await this.options.client.xreadgroup(...args, 'STREAMS', this.stream, '>');
    const streams = reply as Array<[string, Array<[string, string[] | null]>]> | null;
    return streams?.[0]?.[1].map(entryOf) ?? [];
  }

  /** Runs `taskBegin` for each entry; an entry naming no task (trimmed meanwhile) is acknowledged and skipped. */
  private async begin(entries: readonly Entry[], now: number): Promise<Claim[]> {
    if (entries.length === 0) return [];
    const begun = await Promise.all(
      entries.map(({ entry, id }) => {
        if (id === undefined) return this.options.client.xack(this.stream, GROUP, entry).then(() => null);
        return this.script('taskBegin', true)(this.stream, this.hash(id), GROUP, entry, now).then((flat) =>
          flat === null ? null : claimOf(id, entry, fieldsOf(flat as Buffer[])),
        );
      }),
    );
    return begun.filter((claim): claim is Claim => claim !== null);
  }

  async finish(claim: Claim, result: Finish): Promise<void> {
    const now = Date.now();
    await this.script('taskFinish')(
      this.stream,
      this.hash(claim.task.id),
      this.delayed,
      this.dead,
      GROUP,
      claim.handle,
      now,
      result.kind,
      result.status ?? '',
      result.kind === 'succeeded' ? '' : (result.error ?? ''),
      result.kind === 'retry' ? now + result.delayMs : 0,
      claim.task.id,
      this.options.retention,
      this.cutoff(now),
    );
  }

  async status(id: string): Promise<TaskStatus | undefined> {
    let values: Array<string | null>;
    try {
      values = await this.options.client.hmget(this.hash(id), ...STATUS_FIELDS);
    } catch (err) {
      throw unavailable(this.options.route, 'status', err);
    }
    if (values[0] === null) return undefined;
    return statusFrom(id, new Map(STATUS_FIELDS.map((name, i) => [name, values[i] ?? null])));
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const entries = (await this.options.client.xrevrange(this.dead, '+', '-', 'COUNT', limit)) as Array<
      [string, string[]]
    >;
    const letters = await Promise.all(
      entries.map(async ([, fields]) => {
        const id = fields[1] as string;
        const values = await this.options.client.hmget(this.hash(id), ...STATUS_FIELDS);
        if (values[0] !== 'failed') return undefined; // expired, retried or deleted since
        const map = new Map(STATUS_FIELDS.map((name, i) => [name, values[i] ?? null]));
        return {
          ...statusFrom(id, map),
          route: this.options.route,
          method: text(map, 'method'),
          path: text(map, 'path'),
        };
      }),
    );
    return letters.filter((letter): letter is DeadLetter => letter !== undefined);
  }

  async retryDead(id: string): Promise<boolean> {
    const now = Date.now();
    const done = await this.script('taskRetryDead')(
      this.dead,
      this.hash(id),
      this.stream,
      now,
      this.options.retention,
      id,
      this.cutoff(now),
    );
    return done === 1;
  }

  async deleteDead(id: string): Promise<boolean> {
    return (await this.script('taskDeleteDead')(this.dead, this.hash(id))) === 1;
  }

  unfinished(): number {
    return 0; // nothing is held only here: unfinished tasks stay in Redis for any instance
  }

  async close(): Promise<void> {
    this.options.reader.disconnect();
  }
}

/** The task hash as HSET arguments: field, value, field, value… (one pair a line). */
function taskFields(task: TaskRecord, now: number): Array<string | Buffer | number> {
  // prettier-ignore
  return [
    'method', task.method,
    'path', task.path,
    'headers', JSON.stringify(task.headers),
    'body', task.body,
    'requestId', task.requestId,
    'traceparent', task.traceparent,
    'key', task.key,
    'clientKey', task.clientKey,
    'createdAt', task.createdAt,
    'updatedAt', now,
    'status', 'queued',
    'attempts', 0,
    'lastStatus', '',
    'lastError', '',
  ];
}

function claimOf(id: string, entry: string, fields: Map<string, Buffer>): Claim {
  const task: TaskRecord = {
    id,
    method: text(fields, 'method'),
    path: text(fields, 'path'),
    headers: JSON.parse(text(fields, 'headers') || '{}') as Record<string, string | string[]>,
    body: fields.get('body') ?? Buffer.alloc(0),
    requestId: text(fields, 'requestId'),
    traceparent: text(fields, 'traceparent'),
    key: text(fields, 'key'),
    clientKey: text(fields, 'clientKey'),
    createdAt: Number(text(fields, 'createdAt')),
  };
  return { task, attempt: Number(text(fields, 'attempts')), handle: entry };
}
