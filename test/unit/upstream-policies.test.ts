/**
 * The pure parts of upstream resilience (src/upstream/): balance, health verdicts, outlier ejection, the retry
 * budget, the circuit breaker and the set's choice with its panic policy.
 */
import { leastRequest, pick, roundRobin, weightedRandom, type Weighted } from '../../src/upstream/balance.js';
import { recordCheck, startHealthChecks } from '../../src/upstream/health.js';
import { ejectionTime, maxEjected, recordFailure, recordSuccess } from '../../src/upstream/outlier.js';
import { RetryBudget, hasNoBody, isIdempotent } from '../../src/upstream/retry-budget.js';
import { hasRoom } from '../../src/upstream/breaker.js';
import { UpstreamState, createUpstreamStates, isAvailable } from '../../src/upstream/state.js';
import { FULL, UpstreamSet, type Member, type SetEvents, type SetPolicy } from '../../src/upstream/set.js';
import type { OutlierConfig } from '../../src/upstream/config.js';
import type { UpstreamProxy } from '../../src/proxy/forward.js';
import { Attempt } from '../../src/upstream/attempt.js';
import { failureReason, safeToRetry } from '../../src/upstream/forwarder.js';
import { describeHealth, upstreamReadiness } from '../../src/upstream/readiness.js';
import { PorticoError } from '../../src/errors.js';
import { waitFor } from '../helpers/wait.js';

interface Test extends Weighted {
  readonly name: string;
  active: number;
}

function members(...weights: number[]): Test[] {
  return weights.map((weight, i) => {
    const member: Test = { name: 'abcdef'[i] as string, weight, score: 0, active: 0, load: () => member.active };
    return member;
  });
}

const all = (): boolean => true;

/** A deterministic [0, 1) sequence. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

describe('balance', () => {
  it('round robin with equal weights takes each in turn', () => {
    const list = members(1, 1, 1);
    const names = Array.from({ length: 6 }, () => roundRobin(list, all)?.name).join('');
    expect(names).toBe('abcabc');
  });

  it('smooth weighted round robin interleaves by weight (5, 1, 1 → a a b a c a a)', () => {
    const list = members(5, 1, 1);
    const names = Array.from({ length: 7 }, () => roundRobin(list, all)?.name).join('');
    expect(names).toBe('aabacaa');
  });

  it('skips members that are not eligible, and returns undefined when none is', () => {
    const list = members(1, 1, 1);
    const notB = (member: Test): boolean => member.name !== 'b';
    expect(Array.from({ length: 4 }, () => roundRobin(list, notB)?.name).join('')).toBe('acac');
    expect(roundRobin(list, () => false)).toBeUndefined();
  });

  it('random draws in proportion to weight', () => {
    const list = members(3, 1);
    // Points in [0, 4): below 3 is a, above is b.
    expect(weightedRandom(list, all, () => 0.7)?.name).toBe('a');
    expect(weightedRandom(list, all, () => 0.8)?.name).toBe('b');
  });

  it('least-request keeps the less loaded of two draws, per unit of weight', () => {
    const list = members(1, 1, 1);
    const [a, , c] = list as [Test, Test, Test];
    a.active = 5;
    c.active = 1;
    // First draw a (0.1 of 3), second among b and c drawn at 0.9: c.
    expect(leastRequest(list, all, sequence(0.1, 0.9))?.name).toBe('c');
    const weighted = members(4, 1);
    (weighted[0] as Test).active = 3; // 3 per 4 units of weight
    (weighted[1] as Test).active = 1; // 1 per unit
    expect(leastRequest(weighted, all, sequence(0.1, 0.5))?.name).toBe('a');
  });

  it('least-request with one eligible member returns it', () => {
    const list = members(1, 1);
    expect(pick('least-request', list, (m) => m.name === 'b', sequence(0.3))?.name).toBe('b');
  });
});

describe('health verdict', () => {
  const thresholds = { healthyThreshold: 2, unhealthyThreshold: 3 };

  it('turns unhealthy after the unhealthy threshold and back after the healthy threshold', () => {
    const state = new UpstreamState('http://a/');
    expect([recordCheck(state, false, thresholds), recordCheck(state, false, thresholds)]).toEqual([
      undefined,
      undefined,
    ]);
    expect(recordCheck(state, false, thresholds)).toBe(false);
    expect(state.healthy).toBe(false);
    expect(recordCheck(state, true, thresholds)).toBeUndefined();
    expect(recordCheck(state, false, thresholds)).toBeUndefined(); // a failure restarts the streak
    expect(recordCheck(state, true, thresholds)).toBeUndefined();
    expect(recordCheck(state, true, thresholds)).toBe(true);
    expect(state.healthy).toBe(true);
  });

  it('checks each target at once and then every interval, and stops when told', async () => {
    const state = new UpstreamState('http://a/');
    let calls = 0;
    const stop = startHealthChecks(
      [{ url: new URL('http://a/'), state }],
      { path: '/health', interval: 10, timeout: 5, ...thresholds },
      () => undefined,
      async () => {
        calls++;
        return false;
      },
    );
    expect(calls).toBe(1);
    await waitFor(() => !state.healthy, { message: 'the verdict from three failures' });
    stop();
    const at = calls;
    // A second checker on the same interval shows time passing: three of its rounds later, the stopped one ran
    // at most the check that was in flight when it stopped.
    let witness = 0;
    const stopWitness = startHealthChecks(
      [{ url: new URL('http://b/'), state: new UpstreamState('http://b/') }],
      { path: '/health', interval: 10, timeout: 5, ...thresholds },
      () => undefined,
      async () => {
        witness++;
        return true;
      },
    );
    await waitFor(() => witness >= 4, { message: 'three rounds of the witness checker' });
    stopWitness();
    expect(calls - at).toBeLessThanOrEqual(1);
  });
});

describe('outlier ejection', () => {
  const config: OutlierConfig = {
    consecutiveFailures: 3,
    baseEjection: 1000,
    maxEjection: 2500,
    maxEjectionPercent: 50,
  };

  it('ejects after the failures in a row, for base × times ejected, capped', () => {
    expect([1, 2, 3].map((n) => ejectionTime(config, n))).toEqual([1000, 2000, 2500]);
    const state = new UpstreamState('http://a/');
    expect(recordFailure(state, config, 0, 4, 0)).toBe(false);
    expect(recordFailure(state, config, 0, 4, 0)).toBe(false);
    recordSuccess(state, config, 0); // a success restarts the count
    expect(recordFailure(state, config, 0, 4, 0)).toBe(false);
    expect(recordFailure(state, config, 0, 4, 0)).toBe(false);
    expect(recordFailure(state, config, 0, 4, 0)).toBe(true);
    expect(state.ejectedUntil).toBe(1000);
    expect(isAvailable(state, 999)).toBe(false);
    expect(isAvailable(state, 1000)).toBe(true);
    for (let i = 0; i < 3; i++) recordFailure(state, config, 1000, 4, 0);
    expect(state.ejectedUntil).toBe(3000); // second ejection: twice the base
  });

  it('never ejects beyond maxEjectionPercent (at least one when above 0)', () => {
    expect([maxEjected(3, 50), maxEjected(4, 50), maxEjected(1, 10), maxEjected(5, 0)]).toEqual([1, 2, 1, 0]);
    const state = new UpstreamState('http://b/');
    for (let i = 0; i < 3; i++) expect(recordFailure(state, config, 0, 3, 1)).toBe(false);
    expect(state.ejectedUntil).toBe(0);
  });

  it('lowers the ejection count after a clean base time past the ejection', () => {
    const state = new UpstreamState('http://a/');
    for (let i = 0; i < 3; i++) recordFailure(state, config, 0, 4, 0);
    expect(state.timesEjected).toBe(1);
    recordSuccess(state, config, 1500); // back, but not yet a base time clean
    expect(state.timesEjected).toBe(1);
    recordSuccess(state, config, 2000);
    expect(state.timesEjected).toBe(0);
  });
});

describe('retry budget and safety', () => {
  it('allows retries up to the share of requests in flight, and the minimum always', () => {
    const budget = new RetryBudget(0.2, 3);
    budget.active = 50;
    budget.retrying = 9;
    expect(budget.allows()).toBe(true);
    budget.retrying = 10;
    expect(budget.allows()).toBe(false);
    budget.active = 2;
    budget.retrying = 2;
    expect(budget.allows()).toBe(true); // the minimum of 3
    budget.retrying = 3;
    expect(budget.allows()).toBe(false);
  });

  it('knows idempotent methods and bodiless requests', () => {
    expect(['GET', 'PUT', 'DELETE', 'POST', 'PATCH'].map(isIdempotent)).toEqual([true, true, true, false, false]);
    expect(hasNoBody({})).toBe(true);
    expect(hasNoBody({ 'content-length': '0' })).toBe(true);
    expect(hasNoBody({ 'content-length': '3' })).toBe(false);
    expect(hasNoBody({ 'transfer-encoding': 'chunked' })).toBe(false);
  });
});

describe('circuit breaker', () => {
  it('has room below both bounds only', () => {
    const state = new UpstreamState('http://a/');
    const config = { maxRequests: 2, maxPending: 1 };
    expect(hasRoom(state, config)).toBe(true);
    state.pending = 1;
    expect(hasRoom(state, config)).toBe(false);
    state.pending = 0;
    state.active = 2;
    expect(hasRoom(state, config)).toBe(false);
    expect(hasRoom(state, undefined)).toBe(true);
  });
});

describe('upstream set', () => {
  const events: SetEvents = { ejected() {}, healthChanged() {}, retried() {}, rejected() {} };
  const policy = (over: Partial<SetPolicy> = {}): SetPolicy => ({
    balance: 'round-robin',
    healthCheck: undefined,
    outlier: undefined,
    retry: undefined,
    breaker: undefined,
    critical: false,
    ...over,
  });

  function setOf(count: number, over: Partial<SetPolicy> = {}): { set: UpstreamSet; list: Member[] } {
    const states = createUpstreamStates();
    const list: Member[] = Array.from({ length: count }, (_, i) => {
      const url = new URL(`http://10.0.0.${i + 1}:80/`);
      const state = states.stateFor(url);
      return {
        url,
        origin: url.origin,
        weight: 1,
        score: 0,
        state,
        proxy: {} as UpstreamProxy,
        load: () => state.active,
      };
    });
    return { set: new UpstreamSet('r', list, policy(over), events, () => 1000), list };
  }

  it('skips unhealthy members, and when all are down tries them anyway (panic)', () => {
    const { set, list } = setOf(2);
    const [a, b] = list as [Member, Member];
    a.state.healthy = false;
    expect([set.choose(), set.choose()]).toEqual([b, b]);
    b.state.ejectedUntil = 5000;
    const panicked = [set.choose(), set.choose()];
    expect(panicked).toContain(a);
    expect(panicked).toContain(b);
    expect(set.health()).toMatchObject({ allDown: true });
  });

  it('does not send a retry to an ejected member when the available ones were all tried', () => {
    const { set, list } = setOf(3);
    const [a, b, c] = list as [Member, Member, Member];
    c.state.ejectedUntil = 5000;
    expect(set.choose([a])).toBe(b);
    expect(set.choose([a, b])).toBeUndefined();
  });

  it('excludes members already tried, and says when none is left', () => {
    const { set, list } = setOf(2);
    const [a, b] = list as [Member, Member];
    expect(set.choose([a])).toBe(b);
    expect(set.choose([a, b])).toBeUndefined();
  });

  it('answers FULL when every candidate is at its circuit-breaker bound', () => {
    const { set, list } = setOf(2, { breaker: { maxRequests: 1, maxPending: 10 } });
    for (const member of list) member.state.active = 1;
    expect(set.choose()).toBe(FULL);
    (list[1] as Member).state.active = 0;
    expect(set.choose()).toBe(list[1]);
  });

  it('ejects through outlier detection and reports it', () => {
    const ejected: string[] = [];
    const { list } = setOf(3);
    const set = new UpstreamSet(
      'r',
      list,
      policy({ outlier: { consecutiveFailures: 2, baseEjection: 100, maxEjection: 1000, maxEjectionPercent: 50 } }),
      { ...events, ejected: (_route, member, forMs) => ejected.push(`${member.origin} ${forMs}`) },
      () => 0,
    );
    const [a, b] = list as [Member, Member];
    set.record(a, false);
    set.record(a, false);
    set.record(b, false);
    set.record(b, false); // one of three may be ejected at once: b stays
    expect(ejected).toEqual(['http://10.0.0.1 100']);
    expect(set.health().upstreams.map((one) => one.ejected)).toEqual([true, false, false]);
  });
});

describe('retry conditions and safety of a failed try', () => {
  const set = {} as UpstreamSet;
  const member = {} as Member;

  it('names the condition a failure meets', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect([refused, reset].map(failureReason)).toEqual(['connect-failure', 'reset']);
    expect(failureReason(new PorticoError('PORTICO_UPSTREAM_TIMEOUT', 'idle'))).toBe('timeout');
    expect(failureReason(new PorticoError('PORTICO_UPSTREAM_BUSY', 'queue'))).toBe('timeout');
  });

  it('retries a refused connection for any bodiless request, anything else only idempotent and bodiless', () => {
    const post = new Attempt(set, member, false, true, false);
    expect([safeToRetry(post, 'connect-failure'), safeToRetry(post, 'reset'), safeToRetry(post, '503')]).toEqual([
      true,
      false,
      false,
    ]);
    const get = new Attempt(set, member, true, true, false);
    expect([safeToRetry(get, 'reset'), safeToRetry(get, '503'), safeToRetry(get, 'timeout')]).toEqual([
      true,
      true,
      true,
    ]);
  });

  it('retries a gated body only while none of it left', () => {
    const upload = new Attempt(set, member, false, false, true);
    expect(safeToRetry(upload, 'connect-failure')).toBe(true);
    upload.bodySent = true;
    expect(safeToRetry(upload, 'connect-failure')).toBe(false);
    const streamed = new Attempt(set, member, false, false, false); // a body not held back
    expect(safeToRetry(streamed, 'connect-failure')).toBe(false);
  });
});

describe('readiness text', () => {
  it('counts the upstreams up and names the others with the reason', () => {
    const health = {
      route: 'orders',
      critical: true,
      allDown: false,
      upstreams: [
        { upstream: 'http://a', healthy: true, ejected: false },
        { upstream: 'http://b', healthy: false, ejected: false },
        { upstream: 'http://c', healthy: true, ejected: true },
      ],
    };
    expect(describeHealth(health)).toBe('1/3 upstreams up (http://b unhealthy, http://c ejected)');
    const [check] = upstreamReadiness([health]);
    expect(check?.name).toBe('upstreams:orders');
    expect(check?.check()).toEqual({
      ok: true,
      detail: '1/3 upstreams up (http://b unhealthy, http://c ejected); critical',
    });
    const [down] = upstreamReadiness([{ ...health, allDown: true }]);
    expect(down?.check().ok).toBe(false);
  });
});
