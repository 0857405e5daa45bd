import { z } from 'zod';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Parses `250ms`, `15s`, `1.5m`, `1h` into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * (UNITS[match[2] as string] as number);
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Milliseconds as the shortest exact text: 300000 → `5m`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** What a duration field accepts before parsing; shared so the JSON Schema generator can recognise durations. */
export const durationInput = z.union([z.number(), z.string()]);
export const DURATION_PATTERN = DURATION.source;

/** A duration field: a string with a unit (`250ms`, `15s`, `1m`, `1h`), or a bare number of milliseconds. */
export function duration(options: { min?: number; max?: number } = {}) {
  const min = options.min ?? 0;
  const max = options.max ?? 2_147_483_647; // setTimeout's ceiling
  return durationInput.transform((value, ctx) => {
    const ms = typeof value === 'number' ? value : parseDuration(value);
    if (ms === undefined || !Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: `invalid duration "${String(value)}" (use e.g. 250ms, 15s, 1m, 1h)` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `duration ${String(value)} out of range (${min}ms to ${max}ms)` });
      return z.NEVER;
    }
    return ms;
  });
}
