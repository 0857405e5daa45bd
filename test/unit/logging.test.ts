/**
 * The process logger and the `logging` kind's options, without I/O: lines go to an in-memory stream.
 */
import { configSchema } from '../../src/config/schema.js';
import { resolveEntry } from '../../src/middleware/entries.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { createLogger, DEFAULT_REDACT, logFatalAndExit } from '../../src/telemetry/logger.js';
import { PorticoError } from '../../src/errors.js';

type Line = Record<string, unknown>;

function capture(logs: Record<string, unknown> = {}): { lines: Line[]; log: ReturnType<typeof createLogger> } {
  const lines: Line[] = [];
  const log = createLogger(telemetrySchema.parse({ serviceName: 'unit', logs }), {
    stream: { write: (text: string) => void lines.push(JSON.parse(text) as Line) },
  });
  return { lines, log };
}

describe('logging kind options', () => {
  const config = configSchema.parse({});
  it.each([['logging'], [{ logging: { level: 'debug' } }], [{ logging: {} }]])('accepts %j', (entry) => {
    expect(resolveEntry(entry, defaultRegistry, config).ok).toBe(true);
  });

  it.each([
    [{ logging: { level: 'loud' } }, ['logging', 'level']],
    [{ logging: { format: 'pretty' } }, ['logging']],
  ])('rejects %j, naming the key', (entry, path) => {
    const resolved = resolveEntry(entry, defaultRegistry, config);
    expect(resolved.ok).toBe(false);
    if (!resolved.ok) expect(resolved.issues[0]?.path).toEqual(path);
  });

  it('rejects a redaction path that is not one', () => {
    expect(telemetrySchema.safeParse({ logs: { redact: ['req.headers.x-api-key'] } }).success).toBe(false);
    expect(
      telemetrySchema.safeParse({ logs: { redact: ['req.headers["x-api-key"]', 'body.*.password'] } }).success,
    ).toBe(true);
  });
});

describe('process logger', () => {
  it('writes JSON lines with a numeric level (as pino tools expect), epoch time and the service', () => {
    const { lines, log } = capture();
    log.logger.info({ route: 'orders' }, 'hello');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, service: 'unit', route: 'orders', msg: 'hello' });
    expect(lines[0]?.time).toEqual(expect.any(Number));
  });

  it('writes the level as a label with `levelFormat: label`', () => {
    const { lines, log } = capture({ levelFormat: 'label' });
    log.logger.warn('hello');
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'hello' });
  });

  it('honours the configured level', () => {
    const { lines, log } = capture({ level: 'warn' });
    log.logger.info('dropped');
    log.logger.warn('kept');
    expect(lines.map((line) => line.msg)).toEqual(['kept']);
  });

  it('redacts secret headers on both sides by default, plus configured paths', () => {
    expect(DEFAULT_REDACT).toEqual(
      expect.arrayContaining([
        'req.headers["authorization"]',
        'res.headers["set-cookie"]',
        'req.headers["proxy-authorization"]',
      ]),
    );
    const { lines, log } = capture({ redact: ['req.headers["x-api-key"]'] });
    log.logger.info({
      req: {
        headers: {
          authorization: 'Bearer t',
          cookie: 'a=1',
          'proxy-authorization': 'Basic x',
          'x-api-key': 'k',
          accept: '*/*',
        },
      },
      res: { headers: { 'set-cookie': 'b=2', 'content-type': 'text/plain' } },
    });
    expect(lines[0]?.req).toEqual({
      headers: {
        authorization: '[Redacted]',
        cookie: '[Redacted]',
        'proxy-authorization': '[Redacted]',
        'x-api-key': '[Redacted]',
        accept: '*/*',
      },
    });
    expect(lines[0]?.res).toEqual({ headers: { 'set-cookie': '[Redacted]', 'content-type': 'text/plain' } });
  });

  it('logs an error with its code, context and cause chain', () => {
    const { lines, log } = capture();
    const err = new PorticoError('PORTICO_UPSTREAM_UNREACHABLE', 'upstream down', {
      cause: new Error('connect ECONNREFUSED'),
      context: { route: 'orders' },
    });
    log.logger.error({ err }, 'failed');
    const logged = lines[0]?.err as Record<string, unknown>;
    expect(logged).toMatchObject({
      type: 'PorticoError',
      code: 'PORTICO_UPSTREAM_UNREACHABLE',
      context: { route: 'orders' },
    });
    expect(logged.cause).toMatchObject({ type: 'Error', message: 'connect ECONNREFUSED' });
  });

  it('on a fatal error logs it, flushes, then exits with 1', async () => {
    const { lines, log } = capture();
    const code = await new Promise<number>((resolve) =>
      logFatalAndExit(log, new Error('boom'), 'uncaughtException', resolve),
    );
    expect(code).toBe(1);
    expect(lines[0]).toMatchObject({ level: 60, origin: 'uncaughtException', msg: 'fatal error, exiting' });
    expect((lines[0]?.err as { message: string }).message).toBe('boom');
  });
});
