/**
 * Which @opentelemetry/auto-instrumentations-node entries Portico enables. Every entry is listed, so a version of
 * the package that adds one fails to compile until someone decides about it, and an `OTEL_NODE_ENABLED_INSTRUMENTATIONS`
 * in the environment cannot switch on something that costs on the hot path (explicit config wins over env).
 *
 * On: ioredis (rate limits, user cache) and pg (user lookup), only under a request span. Off: http and express
 * (server and upstream spans are made by hand, see src/tracing/kind.ts), fs, dns and net (a span per syscall
 * or socket), undici (Portico makes no fetch calls), and everything Portico does not load.
 */
import { getNodeAutoInstrumentations, type InstrumentationConfigMap } from '@opentelemetry/auto-instrumentations-node';

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

/**
 * The `db.query.text` of a Redis span: the command and how many arguments it had, never the arguments. The
 * instrumentation's default writes every argument of EVALSHA, and the rate limit's EVALSHA carries its key: the
 * client address, or the API key a `header:` policy counts by, would reach the trace backend with every request. It
 * also runs a list of regular expressions over the command name and joins the arguments, per command: with a key
 * per request (many clients) that is one Redis span per request (bench/README.md, "Issue 22").
 */
export function redisStatement(cmdName: string, cmdArgs: readonly unknown[]): string {
  return cmdArgs.length === 0 ? cmdName : `${cmdName} [${cmdArgs.length} arguments]`;
}

/** Creates (and thereby enables: their require hooks are installed now) the instrumentations Portico uses. */
export function createInstrumentations(): Instrumentation[] {
  const config: InstrumentationConfigMap = {};
  for (const [name, enabled] of Object.entries(ENABLED) as [Name, boolean][]) config[name] = { enabled };
  config['@opentelemetry/instrumentation-ioredis'] = {
    enabled: true,
    requireParentSpan: true,
    dbStatementSerializer: redisStatement,
  };
  config['@opentelemetry/instrumentation-pg'] = { enabled: true, requireParentSpan: true };
  return getNodeAutoInstrumentations(config);
}
