/** Log capture for tests that assert on what Portico logs: parsed lines, in the order written. */
import pino from 'pino';

export interface CapturedLogs<Line> {
  readonly logger: pino.Logger;
  /** Every line written so far, parsed; pino writes synchronously to this destination, so no wait is needed. */
  readonly lines: Line[];
}

/**
 * A pino logger at `level` whose output is parsed into `lines`. `Line` is the shape a test reads (a cast: the
 * fields a test names are the ones it asserts on, and a missing one fails that assertion).
 */
export function captureLogs<Line = Record<string, unknown>>(level: pino.LevelWithSilent = 'info'): CapturedLogs<Line> {
  const lines: Line[] = [];
  const destination = {
    write(text: string): void {
      for (const line of text.split('\n')) if (line !== '') lines.push(JSON.parse(line) as Line);
    },
  };
  return { logger: pino({ level }, destination), lines };
}
