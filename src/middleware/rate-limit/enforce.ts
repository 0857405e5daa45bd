/**
 * The request path of `rateLimit`: build the key, one store call per policy, then headers and the answer.
 *
 * Several rateLimit entries may apply to one request (global chain, then the route's). Each entry merges its
 * verdicts into state kept in the request's context (`req.portico.rateLimits`), so the response carries one RateLimit-Policy member per
 * applied policy and the RateLimit of the strictest; a policy already applied to this request is not counted twice.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendProblem } from '../../errors.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { Handler, KindDeps, Next } from '../kind.js';
import type { CompiledPolicy } from './compile.js';
import { decide, stricter, type Verdict } from './decide.js';
import { appendMember, legacyReset, rateLimitValue, retryAfterSeconds } from './headers.js';

export interface RequestLimits {
  /** RateLimit-Policy value so far. */
  policies: string;
  /** The verdict whose numbers go in RateLimit (the strictest with a count). */
  decider: Verdict | undefined;
  /** A policy whose store failed with onStoreError deny. */
  unavailable: Verdict | undefined;
}

/** Retry-After of a 503 when the store is down: the reconnect back-off is of this order. */
const STORE_RETRY_AFTER = '1';

function applied(req: IncomingMessage, policy: CompiledPolicy): boolean {
  const state = req.portico?.rateLimits;
  return state !== undefined && state.policies.includes(`${policy.quotedName};`);
}

function record(req: IncomingMessage, verdict: Verdict, metrics: Metrics): RequestLimits {
  const { policy } = verdict;
  metrics.rateLimitDecision(policy.name, verdict.outcome);
  if (verdict.outcome === 'shadow_limited') {
    req.portico?.log.info(
      { policy: policy.name, clientIp: req.portico.clientIp },
      'rate limit exceeded in shadow mode (not enforced)',
    );
  }
  let state = req.portico?.rateLimits;
  if (state === undefined) {
    state = { policies: policy.member, decider: undefined, unavailable: undefined };
    if (req.portico !== undefined) req.portico.rateLimits = state;
  } else {
    state.policies = appendMember(state.policies, policy.member);
  }
  state.decider = stricter(state.decider, verdict);
  if (verdict.action === 'unavailable') state.unavailable = verdict;
  return state;
}

function writeHeaders(res: ServerResponse, state: RequestLimits): void {
  res.setHeader('ratelimit-policy', state.policies);
  const decider = state.decider;
  if (decider === undefined || decider.remaining === undefined) return;
  res.setHeader('ratelimit', rateLimitValue(decider.policy.quotedName, decider.remaining, decider.resetMs));
  if (decider.policy.legacyHeaders) {
    res.setHeader('x-ratelimit-limit', decider.policy.limit);
    res.setHeader('x-ratelimit-remaining', Math.max(0, decider.remaining));
    res.setHeader('x-ratelimit-reset', legacyReset(decider.resetMs, Date.now()));
  } else if (res.hasHeader('x-ratelimit-limit')) {
    // An earlier policy wrote them; they would now describe a policy that no longer decides.
    res.removeHeader('x-ratelimit-limit');
    res.removeHeader('x-ratelimit-remaining');
    res.removeHeader('x-ratelimit-reset');
  }
}

function respond(req: IncomingMessage, res: ServerResponse, next: Next, state: RequestLimits): void {
  writeHeaders(res, state);
  const decider = state.decider;
  if (decider !== undefined && decider.action === 'limit') {
    const name = decider.policy.name;
    sendProblem(
      res,
      'PORTICO_RATE_LIMITED',
      { requestId: req.portico?.id, route: req.portico?.route, extra: { policy: name } },
      {
        detail: `rate limit "${name}" exceeded`,
        headers: { 'retry-after': String(retryAfterSeconds(decider.resetMs)) },
      },
    );
  } else if (state.unavailable !== undefined) {
    const name = state.unavailable.policy.name;
    sendProblem(
      res,
      'PORTICO_STORE_UNAVAILABLE',
      { requestId: req.portico?.id, route: req.portico?.route, extra: { policy: name } },
      {
        detail: 'the rate-limit store is unavailable',
        headers: { 'retry-after': STORE_RETRY_AFTER },
      },
    );
  } else {
    next();
  }
}

function rejectMissingKey(req: IncomingMessage, res: ServerResponse, policy: CompiledPolicy): void {
  sendProblem(
    res,
    'PORTICO_RATE_LIMIT_KEY_MISSING',
    { requestId: req.portico?.id, route: req.portico?.route, extra: { policy: policy.name } },
    { detail: policy.missingKeyDetail },
  );
}

function single(policy: CompiledPolicy, deps: KindDeps): Handler {
  const { stores, metrics } = deps;
  return (req, res, next) => {
    if (applied(req, policy)) return next();
    const key = policy.keyOf(req);
    if (key === undefined) return rejectMissingKey(req, res, policy);
    return decide(policy, key, stores, req).then((verdict) => respond(req, res, next, record(req, verdict, metrics)));
  };
}

function several(policies: readonly CompiledPolicy[], deps: KindDeps): Handler {
  const { stores, metrics } = deps;
  return (req, res, next) => {
    const pending: CompiledPolicy[] = [];
    const keys: string[] = [];
    for (const policy of policies) {
      if (applied(req, policy)) continue;
      const key = policy.keyOf(req);
      if (key === undefined) return rejectMissingKey(req, res, policy);
      pending.push(policy);
      keys.push(key);
    }
    if (pending.length === 0) return next();
    // Independent counters: their store calls run concurrently.
    return Promise.all(pending.map((policy, i) => decide(policy, keys[i] as string, stores, req))).then((verdicts) => {
      let state: RequestLimits | undefined;
      for (const verdict of verdicts) state = record(req, verdict, metrics);
      respond(req, res, next, state as RequestLimits);
    });
  };
}

/** The handler for one rateLimit entry (one policy, or a list decided concurrently). */
export function enforce(policies: readonly CompiledPolicy[], deps: KindDeps): Handler {
  return policies.length === 1 ? single(policies[0] as CompiledPolicy, deps) : several(policies, deps);
}
