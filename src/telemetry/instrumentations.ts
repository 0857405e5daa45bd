/**
 * Which @opentelemetry/auto-instrumentations-node entries Portico enables. Every entry is listed, so a version of
 * the package that adds one fails to compile until someone decides about it, and an `OTEL_NODE_ENABLED_INSTRUMENTATIONS`
 * in the environment cannot switch on something that costs on the hot path (explicit config wins over env).
 *
 * On: ioredis (rate limits, user cache) and pg (user lookup), only under a request span, and never with a value in a
 * span: a Redis command is recorded as its name and the shape of its key (`EVALSHA portico:rl:*`: rate-limit keys
 * hold client addresses, cache commands carry the cached user), a SQL query as its text with `$n` placeholders
 * (pg's `enhancedDatabaseReporting`, which adds the values, stays off). Off: http and express
 * (server and upstream spans are made by hand, see src/tracing/kind.ts), fs, dns and net (a span per syscall
 * or socket), undici (Portico makes no fetch calls), and everything Portico does not load.
 */
import { getNodeAutoInstrumentations, type InstrumentationConfigMap } from '@opentelemetry/auto-instrumentations-node';
import type { Span } from '@opentelemetry/api';
import { ATTR_DB_COLLECTION_NAME } from '@opentelemetry/semantic-conventions';

type Name = keyof InstrumentationConfigMap;
type Instrumentation = ReturnType<typeof getNodeAutoInstrumentations>[number];

const ENABLED: Readonly<Record<Name, boolean>> = {
  '@opentelemetry/instrumentation-ioredis': true,
  '@opentelemetry/instrumentation-pg': true,
  '@opentelemetry/instrumentation-http': false,
  '@opentelemetry/instrumentation-express': false,
  '@opentelemetry/instrumentation-fs': false,
  '@opentelemetry/instrumentation-dns': false,
  '@opentelemetry/instrumentation-net': false,
  '@opentelemetry/instrumentation-undici': false,
  '@opentelemetry/instrumentation-pino': false,
  '@opentelemetry/instrumentation-redis': false,
  '@opentelemetry/instrumentation-router': false,
  '@opentelemetry/instrumentation-runtime-node': false,
  '@opentelemetry/instrumentation-host-metrics': false,
  '@opentelemetry/instrumentation-generic-pool': false,
  '@opentelemetry/instrumentation-lru-memoizer': false,
  '@opentelemetry/instrumentation-amqplib': false,
  '@opentelemetry/instrumentation-aws-lambda': false,
  '@opentelemetry/instrumentation-aws-sdk': false,
  '@opentelemetry/instrumentation-bunyan': false,
  '@opentelemetry/instrumentation-cassandra-driver': false,
  '@opentelemetry/instrumentation-connect': false,
  '@opentelemetry/instrumentation-cucumber': false,
  '@opentelemetry/instrumentation-dataloader': false,
  '@opentelemetry/instrumentation-graphql': false,
  '@opentelemetry/instrumentation-grpc': false,
  '@opentelemetry/instrumentation-hapi': false,
  '@opentelemetry/instrumentation-kafkajs': false,
  '@opentelemetry/instrumentation-knex': false,
  '@opentelemetry/instrumentation-koa': false,
  '@opentelemetry/instrumentation-memcached': false,
  '@opentelemetry/instrumentation-mongodb': false,
  '@opentelemetry/instrumentation-mongoose': false,
  '@opentelemetry/instrumentation-mysql': false,
  '@opentelemetry/instrumentation-mysql2': false,
  '@opentelemetry/instrumentation-nestjs-core': false,
  '@opentelemetry/instrumentation-openai': false,
  '@opentelemetry/instrumentation-oracledb': false,
  '@opentelemetry/instrumentation-restify': false,
  '@opentelemetry/instrumentation-socket.io': false,
  '@opentelemetry/instrumentation-tedious': false,
  '@opentelemetry/instrumentation-winston': false,
};

/** Creates (and thereby enables: their require hooks are installed now) the instrumentations Portico uses. */
export function createInstrumentations(): Instrumentation[] {
  const config: InstrumentationConfigMap = {};
  for (const [name, enabled] of Object.entries(ENABLED) as [Name, boolean][]) config[name] = { enabled };
  config['@opentelemetry/instrumentation-ioredis'] = {
    enabled: true,
    requireParentSpan: true,
    dbStatementSerializer: redisStatement,
  };
  config['@opentelemetry/instrumentation-pg'] = {
    enabled: true,
    requireParentSpan: true,
    enhancedDatabaseReporting: false,
    requestHook: (span: Span, info: { query: { text: string } }) => {
      const table = collectionOf(info.query.text);
      if (table !== undefined) span.setAttribute(ATTR_DB_COLLECTION_NAME, table);
    },
  };
  return getNodeAutoInstrumentations(config);
}

/**
 * A key's shape: its leading word segments (`portico`, `rl`, `user`) as they are, everything from the first segment
 * that is not a plain word (an address, an id, a `{policy:client}` hash tag) on as `*`. A key with no `:` at all is
 * `*`, so an argument that is not a key (a password after AUTH) never shows.
 */
export function keyShape(key: string): string {
  const segments = key.split(':');
  const kept: string[] = [];
  for (const segment of segments.slice(0, -1)) {
    if (!/^[A-Za-z_-]+$/.test(segment)) break;
    kept.push(segment);
  }
  return kept.length === 0 ? '*' : `${kept.join(':')}:*`;
}

const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

/**
 * `db.query.text` of a Redis command: its name and the shape of its first key, never a value. The instrumentation's
 * default writes every argument, and the rate limit's EVALSHA carries its key: the client address, or the API key a
 * `header:` policy counts by, would reach the trace backend with every request.
 */
export function redisStatement(command: string, args: ReadonlyArray<unknown>): string {
  const name = command.toLowerCase();
  // Scripts: `EVALSHA sha numkeys key…`; everything else takes its key first.
  const key = SCRIPT_COMMANDS.has(name) ? (Number(args[1]) > 0 ? args[2] : undefined) : args[0];
  const text = typeof key === 'string' ? key : Buffer.isBuffer(key) ? key.toString('latin1') : undefined;
  return text === undefined ? command.toUpperCase() : `${command.toUpperCase()} ${keyShape(text)}`;
}

/** The table a query reads or writes (`FROM`, `INTO`, `UPDATE`), unquoted, schema kept; undefined when none. */
export function collectionOf(sql: string): string | undefined {
  const match = /\b(?:FROM|INTO|UPDATE)\s+((?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?)/i.exec(sql);
  return match?.[1]?.replaceAll('"', '');
}
