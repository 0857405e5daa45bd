/**
 * Flat lines written without pino (src/telemetry/flat-line.ts) against the lines pino itself writes for the same
 * fields: byte for byte, time aside, for both level formats, every level, and strings that need escaping.
 */
import type { Level } from 'pino';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { createLogger, flatLinesOf } from '../../src/telemetry/logger.js';
import { flatFields, jsonString } from '../../src/telemetry/flat-line.js';

function loggerWriting(logs: Record<string, unknown> = {}, serviceName = 'unit') {
  const lines: string[] = [];
  const { logger } = createLogger(telemetrySchema.parse({ serviceName, logs: { level: 'trace', ...logs } }), {
    stream: { write: (text: string) => void lines.push(text) },
  });
  return { lines, logger };
}

const withoutTime = (line: string | undefined): string | undefined => line?.replace(/"time":\d+/, '"time":0');

const ACCESS_FIELDS = {
  reqId: '0d0e8a7d-c29c-4e01-8348-767f77a29c7e',
  method: 'GET',
  path: '/api/orders/42',
  route: 'orders',
  status: 200,
  durationMs: 1.234,
  bytesIn: 0,
  bytesOut: 38,
  upstream: 'http://127.0.0.1:3000',
  clientIp: '::ffff:127.0.0.1',
  userAgent: undefined,
  trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
  span_id: undefined,
  trace_flags: '00',
  aborted: undefined,
  req: undefined,
  res: undefined,
};

const AWKWARD_STRINGS = [
  '',
  'say "hi"',
  'C:\\path\\file',
  'tab\there',
  'line\nbreak',
  '\u0000\u001f\u007f',
  'café ☕ 日本',
  '😀 emoji',
  'x'.repeat(150),
  `"${'y'.repeat(120)}\\`,
  '</script>',
];

describe('flat lines match pino', () => {
  it.each(['number', 'label'])('the access line, at every level, level format %s', (levelFormat) => {
    const { lines, logger } = loggerWriting({ levelFormat });
    const flat = flatLinesOf(logger);
    expect(flat).toBeDefined();
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as Level[]) {
      logger[level](ACCESS_FIELDS, 'request completed');
      expect(flat?.write(level, ACCESS_FIELDS, 'request completed')).toBe(true);
      const [viaPino, viaFlat] = lines.splice(0, 2);
      expect(withoutTime(viaFlat)).toBe(withoutTime(viaPino));
    }
  });

  it.each(AWKWARD_STRINGS)('a string field and message %j', (text) => {
    const { lines, logger } = loggerWriting({}, `svc ${text}`.slice(0, 60));
    const fields = { userAgent: text, path: `/p/${text}`, n: Number.NaN, inf: -Infinity, ok: true };
    logger.info(fields, text);
    expect(flatLinesOf(logger)?.write('info', fields, text)).toBe(true);
    const [viaPino, viaFlat] = lines;
    expect(withoutTime(viaFlat)).toBe(withoutTime(viaPino));
    expect(JSON.parse(viaFlat as string)).toMatchObject({ userAgent: text, n: null, inf: null, ok: true, msg: text });
  });

  it('refuses a line with a field that is not a string, number or boolean, writing nothing', () => {
    const { lines, logger } = loggerWriting();
    expect(flatLinesOf(logger)?.write('info', { req: { headers: {} } }, 'm')).toBe(false);
    expect(flatLinesOf(logger)?.write('info', { err: new Error('x') }, 'm')).toBe(false);
    expect(lines).toEqual([]);
  });

  it('is not offered for a logger with redaction paths of its own: pino applies them', () => {
    const { logger } = loggerWriting({ redact: ['clientIp'] });
    expect(flatLinesOf(logger)).toBeUndefined();
  });
});

describe('flat field encoding', () => {
  it('quotes plain ASCII as is and escapes the rest as JSON', () => {
    expect(jsonString('/api/a-b_c.d~e?f=1')).toBe('"/api/a-b_c.d~e?f=1"');
    for (const text of AWKWARD_STRINGS) expect(JSON.parse(jsonString(text))).toBe(text);
  });

  it('leaves out undefined fields and keeps the order of the rest', () => {
    expect(flatFields({ a: 1, b: undefined, c: 'x', d: false })).toBe(',"a":1,"c":"x","d":false');
    expect(flatFields({ a: null })).toBeUndefined();
  });
});
