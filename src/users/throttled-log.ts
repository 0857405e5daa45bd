/**
 * Logs a recurring failure at most once per interval: the first occurrence at once, later ones folded into the
 * next line's `suppressed` count. Metrics still count every occurrence; this only protects the log.
 */
import type { Logger } from 'pino';

export type ThrottledWarn = (err: unknown, fields?: Record<string, unknown>) => void;

export function throttledWarn(
  logger: Logger,
  message: string,
  intervalMs: number,
  now: () => number = Date.now,
): ThrottledWarn {
  let last = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (err, fields) => {
    const at = now();
    if (at - last < intervalMs) {
      suppressed += 1;
      return;
    }
    logger.warn({ ...fields, err, suppressed }, message);
    last = at;
    suppressed = 0;
  };
}
