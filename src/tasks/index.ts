/**
 * Async routes (a route's `async`): the long-lived part. One store and one delivery loop per async route, made
 * when a plan first names the route and kept across reloads (a reload updates the settings the loop reads); the
 * plan gets the accept handler and the status built-ins from here. Without Redis the stores are in process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Config, RouteConfig } from '../config/schema.js';
import type { BuiltinRoute } from '../middleware/kind.js';
import type { TaskRunner } from '../pool/types.js';
import { connectRedis, type RedisClient } from '../stores/connect.js';
import { statusReady as whenReady } from '../stores/redis.js';
import { redisMode } from '../stores/config.js';
import type { TaskEvent } from '../telemetry/metrics.js';
import { acceptTask } from './accept.js';
import { statusPathOf, type AsyncConfig } from './config.js';
import { DeliveryLoop, type RouteSettings } from './runner.js';
import { MemoryTaskStore } from './store-memory.js';
import { RedisTaskStore } from './store-redis.js';
import { statusRoute } from './status.js';
import type { DeadLetter, TaskStore } from './types.js';

export type { AsyncConfig } from './config.js';
export type Acceptor = (req: IncomingMessage, res: ServerResponse, body: Readable) => void;

export interface TaskServiceOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly pool: TaskRunner;
  /** Attempts in flight per route at most (the pool's `max`). */
  readonly concurrency: number;
  readonly onEvent?: (route: string, event: TaskEvent) => void;
  readonly random?: () => number;
}

/** The blocking read waits this long at most, and its command timeout is this much longer than the client's. */
const READ_MARGIN_MS = 2000;

interface RouteTasks {
  settings: RouteSettings;
  readonly store: TaskStore;
  readonly loop: DeliveryLoop;
}

export class TaskService {
  private readonly routes = new Map<string, RouteTasks>();
  private client: RedisClient | undefined;
  private readonly readers: RedisClient[] = [];
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  private closed = false;

  constructor(private readonly options: TaskServiceOptions) {}

  /** The accept handler of an async route (plan build); starts the route's store and delivery loop on first use. */
  acceptor(route: RouteConfig & { async: AsyncConfig }): Acceptor {
    const tasks = this.ensure(route);
    const options = {
      route: route.name,
      maxBodySize: route.async.maxBodySize,
      statusPath: statusPathOf(route.name, route.async),
      store: () => tasks.store,
      onAccept: this.options.onEvent,
    };
    return (req, res, body) => {
      acceptTask(req, res, body, options).catch((err: unknown) => {
        req.portico?.log.error({ err, route: route.name }, 'task accept failed');
        if (!res.headersSent) res.destroy();
      });
    };
  }

  /** The status routes of `config`'s async routes. */
  builtins(config: Config): BuiltinRoute[] {
    return config.routes.flatMap((route) =>
      route.async === undefined
        ? []
        : [statusRoute(route.name, statusPathOf(route.name, route.async), () => this.routes.get(route.name)?.store)],
    );
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const lists = await Promise.all([...this.routes.values()].map(({ store }) => store.deadLetters(limit)));
    return lists.flat().slice(0, limit);
  }

  /** Requeues one dead letter (by task id) or, without an id, every listed one; resolves how many were requeued. */
  async retryDead(id?: string): Promise<number> {
    let count = 0;
    for (const { store } of this.routes.values()) {
      const ids = id === undefined ? (await store.deadLetters(10_000)).map((letter) => letter.id) : [id];
      for (const one of ids) if (await store.retryDead(one)) count++;
    }
    return count;
  }

  async deleteDead(id: string): Promise<boolean> {
    for (const { store } of this.routes.values()) if (await store.deleteDead(id)) return true;
    return false;
  }

  /**
   * With Redis and an async route in `config`: opens the command connection now and waits for it up to `ms`, so the
   * first accepts do not meet a connection still in its handshake (commands fail at once then: no offline queue).
   */
  async ready(ms: number): Promise<void> {
    const redis = this.options.config.redis;
    if (redisMode(redis) === 'memory' || !this.options.config.routes.some((route) => route.async !== undefined)) return;
    this.client ??= this.connect('tasks', redis);
    await whenReady(this.client, ms);
  }

  /** Attempts under way now, over every route. */
  running(): number {
    let sum = 0;
    for (const { loop } of this.routes.values()) sum += loop.running();
    return sum;
  }

  /**
   * Stops within `drainMs`. In process: keeps delivering until nothing is left or the time is up, then logs how
   * many tasks are lost. On Redis: stops taking, lets attempts under way finish; the rest stays for the others.
   */
  async close(drainMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const deadline = performance.now() + drainMs;
    const all = [...this.routes.values()];
    await Promise.all(all.map(({ loop, store }) => loop.stop(deadline, store.kind === 'memory')));
    const left = all.reduce((sum, { store }) => sum + store.unfinished(), 0);
    if (left > 0)
      this.options.logger.warn({ left }, 'in-process async tasks left undelivered at shutdown; they are lost');
    else if (all.length > 0) this.options.logger.info('async task delivery stopped');
    this.client?.disconnect();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private ensure(route: RouteConfig & { async: AsyncConfig }): RouteTasks {
    const settings: RouteSettings = { route: route.name, async: route.async, upstreams: route.upstream };
    const known = this.routes.get(route.name);
    if (known !== undefined) {
      known.settings = settings;
      return known;
    }
    const store = this.storeFor(route);
    const holder: RouteTasks = {
      settings,
      store,
      loop: new DeliveryLoop({
        store,
        settings: () => holder.settings,
        pool: this.options.pool,
        agentFor: (url) => (url.protocol === 'https:' ? this.agents.https : this.agents.http),
        concurrency: this.options.concurrency,
        logger: this.options.logger.child({ component: 'tasks' }),
        onOutcome: this.options.onEvent,
        random: this.options.random,
      }),
    };
    this.routes.set(route.name, holder);
    if (!this.closed) holder.loop.start();
    return holder;
  }

  private storeFor(route: RouteConfig & { async: AsyncConfig }): TaskStore {
    const redis = this.options.config.redis;
    const async = route.async;
    if (redisMode(redis) === 'memory')
      return new MemoryTaskStore({ route: route.name, queue: async.queue, retention: async.retention });
    this.client ??= this.connect('tasks', redis);
    const reader = this.connect('tasks-read', {
      ...redis,
      commandTimeout: redis.commandTimeout + READ_MARGIN_MS,
      socketTimeout: 0,
    });
    this.readers.push(reader);
    return new RedisTaskStore({
      route: route.name,
      keyPrefix: async.keyPrefix,
      retention: async.retention,
      claimIdle: async.claimIdle,
      promoteEvery: Math.min(1000, Math.max(10, Math.floor(async.backoff / 2))),
      client: this.client,
      reader,
    });
  }

  private connect(name: string, redis: Config['redis']): RedisClient {
    const client = connectRedis(redis, name);
    // Required: an unhandled 'error' event would crash the process. Failures surface as rejected commands.
    client.on('error', () => {});
    return client;
  }
}
