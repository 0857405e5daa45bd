/**
 * What a trace backend reads from Portico, decoded by a decoder that is not Portico's: the OTLP/HTTP protobuf body
 * Portico's exporter sends to a collector this test starts is read with a small protobuf wire reader written from
 * the field numbers of opentelemetry-proto (`ExportTraceServiceRequest` and below), not with Portico's encoder.
 *
 * In a child process (jest bypasses the require hooks instrumentations rely on), with real Redis and PostgreSQL: a
 * user lookup (cache miss: cache.get, db.query, cache.set) behind a Redis rate limit, the same lookup again (cache
 * hit), and a proxied request, each carrying a token in its query. Asserts span names, the HTTP and database
 * semantic-convention attributes, the instrumentation scope's version, the tree (ioredis and pg spans under the
 * lookup's own spans, those under the server span), the configured export headers and the `OTEL_*` variables the
 * config left out; and that no field of the user, no token, and no client address in a Redis key appears in any
 * exported span.
 */
import http from 'node:http';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';
import { nextMessage, writeTsChild } from '../helpers/ts-child.js';
import { dropSchema, PG_URL, uniqueName } from './users-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'portico-tracing-conventions-'));
const RUN = uniqueName('conv');
const SCHEMA = RUN;
const KEY_PREFIX = `portico:${RUN}:user:`;
const TOKEN = 's3cret-token-9f2c';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

/** argv: OTLP endpoint, upstream url. */
const CHILD = `
const [endpoint, upstream] = process.argv.slice(2);
const { configSchema } = require(src('config/schema.ts'));
const { withOtelEnvironment } = require(src('telemetry/environment.ts'));
const raw = {
  server: { listen: '127.0.0.1:0', admin: '127.0.0.1:0', drainTimeout: '2s' },
  redis: { url: 'redis://127.0.0.1:6379' },
  database: { url: ${JSON.stringify(PG_URL)} },
  telemetry: {
    resourceAttributes: { 'service.namespace': 'file-wins' },
    traces: { exporter: 'otlp', endpoint, timeout: '2s', headers: { 'x-api-key': 'collector-key' } },
  },
  rateLimits: { ${JSON.stringify(RUN)}: { key: 'ip', limit: 1000, window: '1m', onStoreError: 'allow' } },
  userLookup: {
    schema: ${JSON.stringify(SCHEMA)},
    cache: { keyPrefix: ${JSON.stringify(KEY_PREFIX)}, negativeTtl: 0 },
    middleware: ['tracing', { rateLimit: ${JSON.stringify(RUN)} }],
  },
  routes: [{ name: 'orders', match: { pathPrefix: '/orders' }, upstream, middleware: ['tracing'] }],
};
const env = {
  OTEL_SERVICE_NAME: 'conventions-test',
  OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,service.namespace=env-loses',
  OTEL_TRACES_SAMPLER: 'parentbased_always_on',
};
const config = configSchema.parse(withOtelEnvironment(raw, env));
const { startTelemetry } = require(src('telemetry/bootstrap.ts'));
const telemetry = startTelemetry(config.telemetry);
const logger = require(dep('pino'))({ level: 'silent' });
const { seedUsers } = require(src('users/index.ts'));
const { startPortico } = require(src('main.ts'));
seedUsers(config, logger, 3)
  .then(() => startPortico({ config, logger }))
  .then((portico) => {
    process.send({ proxyUrl: portico.proxyUrl });
    process.on('message', async () => {
      await portico.shutdown();
      await telemetry.shutdown();
      process.send({ stopped: true });
      process.exit(0);
    });
  });
`;

// ---- an OTLP protobuf reader, from opentelemetry-proto's field numbers ----

type Field = { no: number; wire: number; value: bigint | Buffer };

function varint(buf: Buffer, at: { pos: number }): bigint {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[at.pos++] as number;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  const at = { pos: 0 };
  while (at.pos < buf.length) {
    const tag = Number(varint(buf, at));
    const no = tag >> 3;
    const wire = tag & 7;
    if (wire === 0) out.push({ no, wire, value: varint(buf, at) });
    else if (wire === 1) {
      out.push({ no, wire, value: buf.subarray(at.pos, at.pos + 8) });
      at.pos += 8;
    } else if (wire === 2) {
      const length = Number(varint(buf, at));
      out.push({ no, wire, value: buf.subarray(at.pos, at.pos + length) });
      at.pos += length;
    } else if (wire === 5) {
      out.push({ no, wire, value: buf.subarray(at.pos, at.pos + 4) });
      at.pos += 4;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}

const bytesOf = (list: Field[], no: number): Buffer[] =>
  list.filter((f) => f.no === no && f.wire === 2).map((f) => f.value as Buffer);
const text = (list: Field[], no: number): string | undefined => bytesOf(list, no)[0]?.toString('utf8');
const hex = (list: Field[], no: number): string | undefined => {
  const value = bytesOf(list, no)[0];
  return value === undefined || value.length === 0 ? undefined : value.toString('hex');
};

type Value = string | number | boolean | undefined;

/** AnyValue: 1 string, 2 bool, 3 int, 4 double. */
function anyValue(buf: Buffer): Value {
  const f = fields(buf)[0];
  if (f === undefined) return undefined;
  if (f.no === 1) return (f.value as Buffer).toString('utf8');
  if (f.no === 2) return f.value === 1n;
  if (f.no === 3) return Number(BigInt.asIntN(64, f.value as bigint));
  if (f.no === 4) return (f.value as Buffer).readDoubleLE(0);
  return undefined;
}

/** repeated KeyValue (1 key, 2 value). */
function attributes(list: Field[], no: number): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const kv of bytesOf(list, no)) {
    const f = fields(kv);
    out[text(f, 1) as string] = anyValue(bytesOf(f, 2)[0] ?? Buffer.alloc(0));
  }
  return out;
}

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, Value>;
  scope: { name: string | undefined; version: string | undefined };
  resource: Record<string, Value>;
}

/** ExportTraceServiceRequest 1 → ResourceSpans (1 resource, 2 ScopeSpans) → ScopeSpans (1 scope, 2 Span). */
function decode(body: Buffer): Span[] {
  const spans: Span[] = [];
  for (const rs of bytesOf(fields(body), 1)) {
    const rsf = fields(rs);
    const resource = attributes(fields(bytesOf(rsf, 1)[0] ?? Buffer.alloc(0)), 1);
    for (const ss of bytesOf(rsf, 2)) {
      const ssf = fields(ss);
      const scopeFields = fields(bytesOf(ssf, 1)[0] ?? Buffer.alloc(0));
      const scope = { name: text(scopeFields, 1), version: text(scopeFields, 2) };
      for (const sp of bytesOf(ssf, 2)) {
        const s = fields(sp);
        // Span: 1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 6 kind, 9 attributes
        spans.push({
          traceId: hex(s, 1) as string,
          spanId: hex(s, 2) as string,
          parentSpanId: hex(s, 4),
          name: text(s, 5) as string,
          kind: Number(s.find((f) => f.no === 6)?.value ?? 0n),
          attributes: attributes(s, 9),
          scope,
          resource,
        });
      }
    }
  }
  return spans;
}

// ---- the run ----

let receiver: http.Server;
let up: TestUpstream;
let spans: Span[] = [];
const exportHeaders: http.IncomingHttpHeaders[] = [];
let user: Record<string, unknown>;

beforeAll(async () => {
  const bodies: Buffer[] = [];
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      exportHeaders.push(req.headers);
      bodies.push(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;
  up = await startUpstream();
  const child = fork(writeTsChild(dir, CHILD), [endpoint, up.url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 100_000);
  try {
    const { proxyUrl } = await nextMessage<{ proxyUrl: string }>(child);
    const traceparent = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
    const miss = await request(`${proxyUrl}/users/2?token=${TOKEN}`, {
      headers: { traceparent, 'user-agent': 'conventions-test/1.0' },
    });
    expect(miss.status).toBe(200);
    user = JSON.parse(miss.body) as Record<string, unknown>;
    expect((await request(`${proxyUrl}/users/2?token=${TOKEN}`)).status).toBe(200);
    expect((await request(`${proxyUrl}/orders/7?access_token=${TOKEN}`)).status).toBe(200);
    const exited = once(child, 'exit');
    child.send('stop');
    await nextMessage(child);
    await exited;
  } finally {
    clearTimeout(deadline);
    child.kill();
  }
  spans = bodies.flatMap(decode);
}, 120_000);

afterAll(async () => {
  receiver?.closeAllConnections();
  receiver?.close();
  await up?.close();
  await dropSchema(SCHEMA);
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  await redis.connect();
  const keys = await redis.keys(`${KEY_PREFIX}*`);
  const versionKeys = await redis.keys(`{${KEY_PREFIX}*`);
  if (keys.length + versionKeys.length > 0) await redis.del(...keys, ...versionKeys);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

const server = (path: string, traceId?: string): Span[] =>
  spans.filter(
    (s) => s.kind === 2 && s.attributes['url.path'] === path && (traceId === undefined || s.traceId === traceId),
  );
const childrenOf = (span: Span | undefined): Span[] =>
  spans.filter((s) => span !== undefined && s.parentSpanId === span.spanId);
const isRedis = (s: Span): boolean => s.attributes['db.system.name'] === 'redis' && s.scope.name !== 'portico';
const isPg = (s: Span): boolean => s.scope.name?.includes('instrumentation-pg') === true;

test('the export carries the configured headers, and the resource the OTEL_* variables filled where the file was silent', () => {
  expect(exportHeaders.length).toBeGreaterThan(0);
  for (const headers of exportHeaders) expect(headers['x-api-key']).toBe('collector-key');
  expect(spans[0]?.resource).toMatchObject({
    'service.name': 'conventions-test',
    'deployment.environment': 'test',
    'service.namespace': 'file-wins',
  });
});

test('server spans: `{method} {route}` and the stable HTTP attributes, query values redacted; scope with the version', () => {
  const [lookup] = server('/users/2', TRACE_ID);
  expect(lookup).toMatchObject({ name: 'GET /users/:id', parentSpanId: '00f067aa0ba902b7' });
  expect(lookup?.attributes).toMatchObject({
    'http.request.method': 'GET',
    'http.route': '/users/:id',
    'url.path': '/users/2',
    'url.query': 'token=REDACTED',
    'url.scheme': 'http',
    'client.address': '127.0.0.1',
    'server.address': '127.0.0.1',
    'user_agent.original': 'conventions-test/1.0',
    'http.response.status_code': 200,
  });
  expect(lookup?.attributes['server.port']).toEqual(expect.any(Number));
  const { version } = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string };
  expect(lookup?.scope).toEqual({ name: 'portico', version });

  const [orders] = server('/orders/7');
  expect(orders).toMatchObject({ name: 'GET /orders' });
  expect(orders?.attributes['url.query']).toBe('access_token=REDACTED');
  const client = childrenOf(orders).find((s) => s.kind === 3);
  expect(client?.attributes).toMatchObject({
    'server.address': '127.0.0.1',
    'server.port': up.port,
    'url.full': `${up.url}/orders/7?access_token=REDACTED`,
    'network.peer.address': '127.0.0.1',
    'network.peer.port': up.port,
    'http.response.status_code': 200,
  });
});

test('the tree: cache.get, db.query and cache.set under the request, the ioredis and pg spans under them', () => {
  const [lookup] = server('/users/2', TRACE_ID);
  const own = childrenOf(lookup);
  const cacheGet = own.find((s) => s.name === 'cache.get');
  const dbQuery = own.find((s) => s.name === 'db.query');
  expect(cacheGet).toBeDefined();
  expect(dbQuery).toBeDefined();
  // rate-limit commands sit under the server span itself
  expect(own.filter(isRedis).length).toBeGreaterThanOrEqual(1);
  expect(childrenOf(cacheGet).filter(isRedis).length).toBeGreaterThanOrEqual(1);
  const pg = childrenOf(dbQuery).filter(isPg);
  expect(pg.length).toBeGreaterThanOrEqual(1);
  const cacheSet = spans.find((s) => s.name === 'cache.set' && s.traceId === TRACE_ID);
  expect(cacheSet).toBeDefined();
  expect(childrenOf(cacheSet).filter(isRedis).length).toBeGreaterThanOrEqual(1);

  expect(dbQuery?.attributes).toMatchObject({
    'db.system.name': 'postgresql',
    'db.operation.name': 'SELECT',
    'db.collection.name': `${SCHEMA}.users`,
  });
  expect(cacheGet?.attributes).toMatchObject({ 'db.system.name': 'redis', 'db.operation.name': 'GET' });
  const select = pg.find((s) => typeof s.attributes['db.query.text'] === 'string');
  expect(select?.attributes).toMatchObject({
    'db.system.name': 'postgresql',
    'db.collection.name': `${SCHEMA}.users`,
  });
  expect(String(select?.attributes['db.query.text'])).toMatch(/\$1/); // placeholders, never the values
});

test('no user field, token or client address in any exported span; Redis commands show key shapes only', () => {
  expect(user).toMatchObject({ name: expect.any(String) as unknown, email: expect.any(String) as unknown });
  const everything = JSON.stringify(spans);
  for (const secret of [String(user.name), String(user.email), TOKEN]) expect(everything).not.toContain(secret);
  const redis = spans.filter(isRedis);
  expect(redis.length).toBeGreaterThanOrEqual(3);
  for (const span of redis) {
    const statement = String(span.attributes['db.query.text']);
    expect(statement).toMatch(/^[A-Z_]+( [A-Za-z_:-]*\*)?$/);
    expect(statement).not.toContain('127.0.0.1');
  }
  // the rate-limit key holds the client's address; its shape is all that is left
  expect(redis.map((s) => s.attributes['db.query.text'])).toContain('EVALSHA portico:rl:*');
});
