/**
 * One policy's decision for one request, store failures included: a limit result is a Verdict, a store error is
 * turned into the policy's onStoreError behaviour here (never a 429, never a silent allow: it is reported to the
 * stores' health and, by the caller, to metrics).
 */
import type { IncomingMessage } from 'node:http';
import type { RateLimitOutcome } from '../../telemetry/metrics.js';
import type { Stores } from '../../stores/stores.js';
import type { CompiledPolicy } from './compile.js';
import type { Decision } from './limiter.js';

/** What the request gets: forwarded, 429, or 503 (store down and onStoreError deny). */
export type Action = 'pass' | 'limit' | 'unavailable';

export interface Verdict {
  readonly policy: CompiledPolicy;
  readonly outcome: RateLimitOutcome;
  readonly action: Action;
  /** Units left; undefined when no limiter answered (store failed, onStoreError allow or deny). */
  readonly remaining: number | undefined;
  readonly resetMs: number;
}

function fromDecision(policy: CompiledPolicy, decision: Decision, local: boolean): Verdict {
  let outcome: RateLimitOutcome;
  let action: Action = 'pass';
  if (local) outcome = 'store_error_local';
  else if (decision.allowed) outcome = 'allowed';
  else outcome = policy.shadow ? 'shadow_limited' : 'limited';
  if (!decision.allowed && !policy.shadow) action = 'limit';
  return { policy, outcome, action, remaining: decision.remaining, resetMs: decision.resetMs };
}

function onStoreError(
  policy: CompiledPolicy,
  key: string,
  err: unknown,
  stores: Stores,
  req: IncomingMessage | undefined,
): Verdict | Promise<Verdict> {
  stores.reportFailure('limit', err);
  const change = policy.episode.failure();
  // Logged once per episode, through the request that met it: the line carries its id and trace ids.
  const requestLog = req?.portico?.log;
  const log = requestLog ?? policy.log;
  const named = requestLog === undefined ? undefined : policy.name; // policy.log has it bound already
  if (change === 'degraded')
    log.warn(
      { err, policy: named, fallback: policy.fallbackLabel },
      'rate-limit store failing: policy runs on its onStoreError fallback',
    );
  else if (change === 'flapping') {
    log.warn(
      { err, policy: named, fallback: policy.fallbackLabel, flaps: policy.episode.reported },
      'rate-limit store flapping: some calls fail (a partly failed cluster?); those run on the fallback, the rest count in the store',
    );
  }
  if (policy.onStoreError === 'local' && policy.fallback !== undefined) {
    return policy.fallback.consume(key).then((decision) => fromDecision(policy, decision, true));
  }
  if (policy.onStoreError === 'deny') {
    return {
      policy,
      outcome: 'store_error_deny',
      action: policy.shadow ? 'pass' : 'unavailable',
      remaining: undefined,
      resetMs: 0,
    };
  }
  return { policy, outcome: 'store_error_allow', action: 'pass', remaining: undefined, resetMs: 0 };
}

/**
 * Resolves with the verdict; rejects only on a bug (the in-memory limiters cannot fail). `req`: the request being
 * decided, whose logger reports a store failure.
 */
export function decide(policy: CompiledPolicy, key: string, stores: Stores, req?: IncomingMessage): Promise<Verdict> {
  if (!policy.shared) return policy.limiter.consume(key).then((decision) => fromDecision(policy, decision, false));
  return policy.limiter.consume(key).then(
    (decision) => {
      stores.reportSuccess('limit');
      if (policy.episode.success() === 'recovered') {
        const flaps = policy.episode.reported;
        policy.log.info(
          flaps > 0 ? { flaps } : {},
          'rate-limit store answering again: policy counts in the shared store',
        );
      }
      return fromDecision(policy, decision, false);
    },
    (err: unknown) => onStoreError(policy, key, err, stores, req),
  );
}

/**
 * The stricter of two verdicts for the response headers: a rejection first, then fewer units left, then the
 * longer wait. Verdicts without a count (store failed, no fallback) never decide the headers.
 */
export function stricter(current: Verdict | undefined, next: Verdict): Verdict | undefined {
  if (next.remaining === undefined) return current;
  if (current === undefined || current.remaining === undefined) return next;
  const currentLimits = current.action === 'limit';
  const nextLimits = next.action === 'limit';
  if (currentLimits !== nextLimits) return nextLimits ? next : current;
  if (next.remaining !== current.remaining) return next.remaining < current.remaining ? next : current;
  return next.resetMs > current.resetMs ? next : current;
}
