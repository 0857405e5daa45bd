/** The resilience keys of a route: accepted shapes and, per fixture, the error naming file, line and field. */
import { isPlainRoute } from '../../src/upstream/build.js';
import { fixtureError as errorOf, loadInline } from '../helpers/config.js';

const load = (text: string) => loadInline(text);

describe('bad resilience values are refused with file, line and field', () => {
  it.each([
    [
      'upstream-bad-balance.yaml',
      'upstream-bad-balance.yaml:4:14: routes[0].balance: Invalid option: expected one of "round-robin"|"least-request"|"random"',
    ],
    [
      'upstream-bad-weight.yaml',
      'upstream-bad-weight.yaml:3:73: routes[0].upstream[1].weight: Too small: expected number to be >=1',
    ],
    [
      'upstream-bad-weighted-url.yaml',
      /^upstream-bad-weighted-url\.yaml:3:\d+: routes\[0\]\.upstream\[1\]\.url: unsupported URL scheme "ftp:"/,
    ],
    [
      'upstream-bad-budget.yaml',
      'upstream-bad-budget.yaml:4:35: routes[0].retry.budget: invalid percentage "120%" (use 0% to 100%)',
    ],
    ['upstream-bad-attempts.yaml', /^upstream-bad-attempts\.yaml:4:\d+: routes\[0\]\.retry\.attempts: Too small/],
    [
      'upstream-bad-retry-on.yaml',
      'upstream-bad-retry-on.yaml:4:19: routes[0].retry.on[0]: must be connect-failure, reset, timeout, 502, 503 or 504',
    ],
    [
      'upstream-timeout-above-interval.yaml',
      /^upstream-timeout-above-interval\.yaml:4:\d+: routes\[0\]\.healthCheck\.timeout: timeout must not exceed interval$/,
    ],
    [
      'upstream-critical-unchecked.yaml',
      'upstream-critical-unchecked.yaml:4:15: routes[0].critical: critical needs healthCheck or outlierDetection: without them no upstream is ever seen down',
    ],
    [
      'upstream-bad-ejection-percent.yaml',
      /^upstream-bad-ejection-percent\.yaml:4:\d+: routes\[0\]\.outlierDetection\.maxEjectionPercent: Too big/,
    ],
    [
      'upstream-bad-breaker.yaml',
      /^upstream-bad-breaker\.yaml:4:\d+: routes\[0\]\.circuitBreaker\.maxRequests: Too small/,
    ],
  ])('%s', (file, expected) => {
    const message = errorOf(file);
    if (typeof expected === 'string') expect(message).toBe(expected);
    else expect(message).toMatch(expected);
  });
});

describe('accepted resilience config', () => {
  it('takes weighted entries, a percentage budget and retry statuses as numbers, with defaults filled', () => {
    const config = load(
      'routes:\n  - name: a\n    upstream: [http://127.0.0.1:1, { url: "http://127.0.0.1:2", weight: 3 }]\n    balance: least-request\n    healthCheck: { interval: 2s }\n    outlierDetection: {}\n    retry: { on: [connect-failure, 503], budget: 25% }\n    circuitBreaker: { maxPending: 5 }\n',
    );
    const route = config.routes[0];
    expect(route?.upstream.map((url) => [url.href, url.weight])).toEqual([
      ['http://127.0.0.1:1/', 1],
      ['http://127.0.0.1:2/', 3],
    ]);
    expect(route?.healthCheck).toEqual({
      path: '/health',
      interval: 2000,
      timeout: 1000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    });
    expect(route?.outlierDetection).toEqual({
      consecutiveFailures: 5,
      baseEjection: 30_000,
      maxEjection: 300_000,
      maxEjectionPercent: 50,
    });
    expect(route?.retry).toEqual({ attempts: 2, on: ['connect-failure', '503'], budget: 0.25, minRetries: 3 });
    expect(route?.circuitBreaker).toEqual({ maxRequests: 1000, maxPending: 5 });
    expect(route?.critical).toBe(false);
  });

  it('keeps a route without resilience keys and with equal weights plain (the forwarder of before)', () => {
    const config = load(
      'routes:\n  - name: a\n    upstream: [http://127.0.0.1:1, http://127.0.0.1:2]\n  - name: b\n    upstream: [http://127.0.0.1:1, { url: "http://127.0.0.1:2", weight: 2 }]\n  - name: c\n    upstream: http://127.0.0.1:1\n    balance: random\n',
    );
    expect(config.routes.map((route) => isPlainRoute(route))).toEqual([true, false, false]);
  });
});
