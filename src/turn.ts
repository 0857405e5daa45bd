/**
 * Work gathered during one event-loop turn and run once at its end (`setImmediate`: the check phase, after the poll
 * phase has handed over every socket that was ready). Used where doing things together beats doing them one request
 * at a time: the rate limit's coalesced Redis commands, and forwards from synchronous chains.
 */

/** Runs, once per event-loop turn, the flushes added during it. */
export interface FlushGroup {
  add(flush: () => void): void;
}

/**
 * A flush group. `hold`, when given, is called before the turn's flushes and returns what to call after them
 * (or undefined): the Redis backend corks the client's socket, so the turn's commands leave in one write.
 */
export function flushGroup(hold?: () => (() => void) | undefined): FlushGroup {
  let flushes: Array<() => void> = [];
  const run = (): void => {
    const due = flushes;
    flushes = [];
    const release = hold?.();
    try {
      for (const flush of due) flush();
    } finally {
      release?.();
    }
  };
  return {
    add(flush) {
      if (flushes.length === 0) setImmediate(run);
      flushes.push(flush);
    },
  };
}
