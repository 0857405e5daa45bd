/**
 * Flat JSON log lines written the way the process logger's pino writes them, without going through pino: the
 * `logging` kind's access line, one per request, takes this path (src/middleware/logging.ts).
 *
 * Why: measured in the running proxy (interleaved A/B, bench/README.md "Fourth round"), the access line cost ~11 µs
 * of CPU per request, ~7 µs of it inside the pino call (in isolation 1.3 µs a line; in the proxy its string
 * building, property walks and garbage add up), against 0.4-0.8 µs in isolation for this writer. A flat line of
 * strings and numbers has nothing for pino's machinery to do: no serializers (the access line has no `err`), no
 * redaction (the defaults only name header objects, which the line carries only at debug, and then it goes through
 * pino), no mixin, hooks or nested key (src/telemetry/logger.ts sets none).
 *
 * The line is byte for byte what pino 10 writes for the same fields on Node 24 (test/unit/flat-line.test.ts holds
 * both to it): `{"level":…,"time":…` + the bindings + the fields in order (undefined ones left out, a non-finite
 * number as null) + `,"msg":…}` and a newline. Strings are escaped by JSON.stringify, as pino does for control
 * characters and long strings (quotes and backslashes it escapes by hand, to the same bytes); the one difference is
 * a lone UTF-16 surrogate in a short string, which JSON.stringify escapes (`\udc00`) where pino writes it raw.
 */
import type { DestinationStream, Level, Logger } from 'pino';

export interface FlatLineWriter {
  /** Writes the line, or returns false without writing when a field is not a string, number, boolean or undefined (log it through pino then). */
  write(level: Level, fields: Readonly<Record<string, unknown>>, msg: string): boolean;
}

/** Printable ASCII without `"` and `\`: quoted as is by pino and by JSON.stringify alike. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

export function jsonString(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

/**
 * `,"key":value` for each defined field, or undefined if one is anything else (an object, an Error: pino's to serialize). JSON.stringify writes what pino
 * writes for such fields (undefined left out, a non-finite number as null, strings escaped alike but for the lone
 * surrogate above) and builds one string in native code: 1.1 KB of garbage per access line against 3.5 KB for
 * concatenating the fields one by one, and half the time.
 */
export function flatFields(fields: Readonly<Record<string, unknown>>): string | undefined {
  for (const key in fields) {
    const type = typeof fields[key];
    if (type !== 'string' && type !== 'number' && type !== 'boolean' && type !== 'undefined') return undefined;
  }
  const json = JSON.stringify(fields);
  return json.length > 2 ? `,${json.slice(1, -1)}` : '';
}

export interface FlatLineFormat {
  /** Level values as pino writes them: numbers (30) or, with `levelFormat: label`, names ("info"). */
  readonly labels: boolean;
  /** The logger's base bindings, in order (`service`, `pid`). */
  readonly bindings: Readonly<Record<string, string | number>>;
}

/** A writer for the lines of `logger` (its level values) that writes to `stream`, the stream pino writes to. */
export function flatLineWriter(logger: Logger, stream: DestinationStream, format: FlatLineFormat): FlatLineWriter {
  const bindings = flatFields(format.bindings) ?? '';
  const prefixes = new Map<string, string>();
  for (const [label, value] of Object.entries(logger.levels.values))
    prefixes.set(label, `{"level":${format.labels ? jsonString(label) : value},"time":`);
  return {
    write(level, fields, msg) {
      const body = flatFields(fields);
      const prefix = prefixes.get(level);
      if (body === undefined || prefix === undefined) return false;
      stream.write(`${prefix}${Date.now()}${bindings}${body},"msg":${jsonString(msg)}}\n`);
      return true;
    },
  };
}
