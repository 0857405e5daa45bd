/**
 * The pure parts of the tracing conventions: the OTEL_* variables fill what the file leaves out (the file wins),
 * Redis statements keep command and key shape only, SQL statements name their table, query values are redacted.
 */
import { loadConfigText } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { collectionOf, keyShape, redisStatement } from '../../src/telemetry/instrumentations.js';
import { parseKeyValues } from '../../src/telemetry/environment.js';
import { redactedQuery } from '../../src/tracing/query.js';
import { redactConfig } from '../../src/admin/redact.js';

const load = (yaml: string, env: Record<string, string>) =>
  loadConfigText(`userLookup: { enabled: false }\n${yaml}`, 'env.yaml', { registry: defaultRegistry, env });

describe('OTEL_* environment variables', () => {
  const env = {
    OTEL_SERVICE_NAME: 'from-env',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=a%20b',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
    OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k1,x-tenant=t1',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
  };

  it('fill every key the file leaves out', () => {
    const { telemetry } = load('', env);
    expect(telemetry).toMatchObject({
      serviceName: 'from-env',
      resourceAttributes: { 'deployment.environment': 'prod', team: 'a b' },
      traces: {
        exporter: 'otlp',
        sampleRatio: 0.25,
        endpoint: 'http://collector:4318/v1/traces',
        headers: { 'x-api-key': 'k1', 'x-tenant': 't1' },
        protocol: 'http/json',
        timeout: 3000,
      },
    });
  });

  it('the file takes precedence, key by key (resource attributes and headers merged, the file winning)', () => {
    const { telemetry } = load(
      [
        'telemetry:',
        '  serviceName: from-file',
        '  resourceAttributes: { team: file }',
        '  traces: { exporter: none, sampleRatio: 1, headers: { x-api-key: file-key }, endpoint: "http://file:4318/v1/traces" }',
      ].join('\n'),
      { ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces-env:4318/v1/traces' },
    );
    expect(telemetry.serviceName).toBe('from-file');
    expect(telemetry.resourceAttributes).toEqual({ 'deployment.environment': 'prod', team: 'file' });
    expect(telemetry.traces).toMatchObject({
      exporter: 'none',
      sampleRatio: 1,
      endpoint: 'http://file:4318/v1/traces',
      headers: { 'x-api-key': 'file-key', 'x-tenant': 't1' },
    });
  });

  it('OTEL_SDK_DISABLED turns tracing off unless the file turns it on; the signal-specific endpoint is used as is', () => {
    expect(load('', { OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }).telemetry.traces.exporter).toBe(
      'none',
    );
    expect(
      load('telemetry: { traces: { exporter: console } }', { OTEL_SDK_DISABLED: 'true' }).telemetry.traces.exporter,
    ).toBe('console');
    expect(
      load('', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' })
        .telemetry.traces.endpoint,
    ).toBe('http://c:4318/custom');
    expect(load('', { OTEL_TRACES_SAMPLER: 'always_off' }).telemetry.traces.sampleRatio).toBe(0);
  });

  it('a bad value is a config error naming the key', () => {
    expect(() => load('', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/telemetry\.traces\.protocol/);
  });

  it('parses the W3C key=value list form', () => {
    expect(parseKeyValues(' a=1 , b=x%3Dy,=skip,c')).toEqual({ a: '1', b: 'x=y' });
  });

  it('export header values are redacted in /config', () => {
    const config = load('telemetry: { traces: { headers: { x-api-key: very-secret } } }', {});
    expect(JSON.stringify(redactConfig(config))).not.toContain('very-secret');
  });
});

describe('statements in spans', () => {
  it.each([
    ['portico:rl:{per-client:127.0.0.1}', 'portico:rl:*'],
    ['portico:user:42', 'portico:user:*'],
    ['portico:user:42:v', 'portico:user:*'],
    ['{portico:user:42}:v', '*'],
    ['s3cret-password', '*'],
    ['alice@example.com', '*'],
    ['fe80::1', '*'],
  ])('key %s has the shape %s', (key, shape) => {
    expect(keyShape(key)).toBe(shape);
  });

  it('Redis: the command and its first key shape, never a value', () => {
    expect(redisStatement('evalsha', ['abc123', '1', 'portico:rl:{p:10.0.0.1}', '60000', '1'])).toBe(
      'EVALSHA portico:rl:*',
    );
    expect(redisStatement('set', ['portico:user:1', '{"name":"Ada","email":"ada@example.com"}', 'PX', 1000])).toBe(
      'SET portico:user:*',
    );
    expect(redisStatement('auth', ['s3cret'])).toBe('AUTH *');
    expect(redisStatement('ping', [])).toBe('PING');
    expect(redisStatement('evalsha', ['abc', '0', 'value'])).toBe('EVALSHA');
  });

  it('SQL: the table a statement reads or writes', () => {
    expect(collectionOf('SELECT name, email FROM "app"."users" WHERE id = $1')).toBe('app.users');
    expect(collectionOf('INSERT INTO users (id) VALUES ($1)')).toBe('users');
    expect(collectionOf('SELECT 1')).toBeUndefined();
  });

  it('url.query keeps the names, redacts every value', () => {
    expect(redactedQuery('/a?token=s3cret&page=2&flag')).toBe('token=REDACTED&page=REDACTED&flag');
    expect(redactedQuery('/a')).toBeUndefined();
    expect(redactedQuery('/a?')).toBeUndefined();
  });
});
