/**
 * A route's upstream set: its members (each an upstream with its shared state and proxy), the policies decided at
 * plan build, the choice of an upstream for an attempt, outcomes fed to outlier detection, the health checks and
 * what readiness and metrics read. One per route with resilience options; plain routes have none.
 */
import type { UpstreamProxy } from '../proxy/forward.js';
import type { BalancePolicy, BreakerConfig, HealthCheckConfig, OutlierConfig, RetryConfig } from './config.js';
import { pick, type Weighted } from './balance.js';
import { hasRoom } from './breaker.js';
import { startHealthChecks } from './health.js';
import { recordFailure, recordSuccess } from './outlier.js';
import { RetryBudget } from './retry-budget.js';
import { isAvailable, type UpstreamState } from './state.js';

export interface Member extends Weighted {
  readonly url: URL;
  readonly origin: string;
  readonly state: UpstreamState;
  readonly proxy: UpstreamProxy;
}

export interface SetPolicy {
  readonly balance: BalancePolicy;
  readonly healthCheck: HealthCheckConfig | undefined;
  readonly outlier: OutlierConfig | undefined;
  readonly retry: RetryConfig | undefined;
  readonly breaker: BreakerConfig | undefined;
  readonly critical: boolean;
}

/** What the set reports (metrics, logs); injected by the plan. */
export interface SetEvents {
  ejected(route: string, member: Member, forMs: number): void;
  healthChanged(route: string, member: Member, healthy: boolean): void;
  retried(route: string, reason: string): void;
  rejected(route: string): void;
}

export interface UpstreamHealth {
  readonly upstream: string;
  readonly healthy: boolean;
  readonly ejected: boolean;
}

export interface RouteHealth {
  readonly route: string;
  readonly critical: boolean;
  readonly upstreams: readonly UpstreamHealth[];
  /** No upstream is in the balance: requests go to all of them anyway (panic). */
  readonly allDown: boolean;
}

/** No member can take the request: every candidate is at its circuit-breaker bound. */
export const FULL = 'full';

export class UpstreamSet {
  readonly budget: RetryBudget | undefined;
  /** Retry conditions as a set (`502`, `reset`, ...); empty without `retry`. */
  readonly retryOn: ReadonlySet<string>;
  // The choice's inputs, set before each pick so that the eligibility test is one function made here, not a
  // closure per request.
  private now = 0;
  private tried: readonly Member[] | undefined = undefined;
  private panic = false;
  private stopChecks: (() => void) | undefined;
  private readonly eligible = (member: Member): boolean =>
    (this.panic || isAvailable(member.state, this.now)) &&
    hasRoom(member.state, this.policy.breaker) &&
    (this.tried === undefined || !this.tried.includes(member));

  constructor(
    readonly route: string,
    readonly members: readonly Member[],
    readonly policy: SetPolicy,
    private readonly events: SetEvents,
    readonly clock: () => number = Date.now,
  ) {
    const retry = policy.retry;
    this.budget = retry === undefined ? undefined : new RetryBudget(retry.budget, retry.minRetries);
    this.retryOn = new Set(retry?.on ?? []);
  }

  /**
   * The member for the next attempt, not one of `tried`: among the available ones (healthy, not ejected) with
   * room under the circuit breaker; when no member at all is available, among all (panic: a route whose every
   * upstream looks down still tries them, as Envoy does below its panic threshold, rather than failing every
   * request). A retry whose available members were all tried gets none: it does not spill onto an ejected one.
   * `FULL` when candidates exist but all are at their bound; undefined when there is no candidate.
   */
  choose(tried?: readonly Member[]): Member | typeof FULL | undefined {
    this.now = this.clock();
    this.tried = tried;
    this.panic = false;
    let chosen = pick(this.policy.balance, this.members, this.eligible);
    if (chosen === undefined && !this.anyAvailable()) {
      this.panic = true;
      chosen = pick(this.policy.balance, this.members, this.eligible);
    }
    this.tried = undefined;
    if (chosen !== undefined) return chosen;
    return this.members.some((member) => this.isCandidate(member, tried)) ? FULL : undefined;
  }

  private anyAvailable(): boolean {
    for (const member of this.members) if (isAvailable(member.state, this.now)) return true;
    return false;
  }

  private isCandidate(member: Member, tried: readonly Member[] | undefined): boolean {
    return (this.panic || isAvailable(member.state, this.now)) && (tried === undefined || !tried.includes(member));
  }

  /** An attempt's outcome, for outlier detection: a 5xx answer, a refused or reset connection, a timeout fail. */
  record(member: Member, ok: boolean): void {
    const outlier = this.policy.outlier;
    if (outlier === undefined) return;
    const now = this.clock();
    if (ok) {
      recordSuccess(member.state, outlier, now);
      return;
    }
    if (recordFailure(member.state, outlier, now, this.members.length, this.ejectedAt(now)))
      this.events.ejected(this.route, member, member.state.ejectedUntil - now);
  }

  private ejectedAt(now: number): number {
    let count = 0;
    for (const member of this.members) if (member.state.ejectedUntil > now) count++;
    return count;
  }

  retried(reason: string): void {
    this.events.retried(this.route, reason);
  }

  rejected(): void {
    this.events.rejected(this.route);
  }

  health(): RouteHealth {
    const now = this.clock();
    const upstreams = this.members.map((member) => ({
      upstream: member.origin,
      healthy: member.state.healthy,
      ejected: member.state.ejectedUntil > now,
    }));
    return {
      route: this.route,
      critical: this.policy.critical,
      upstreams,
      allDown: upstreams.every((one) => !one.healthy || one.ejected),
    };
  }

  /**
   * Starts the health checks, if the route has them. Idempotent. `claimed` holds the upstreams another route of
   * the plan already checks: an upstream listed by several routes is checked once, by the first that checks it.
   */
  start(claimed: Set<UpstreamState> = new Set()): void {
    const check = this.policy.healthCheck;
    if (check === undefined || this.stopChecks !== undefined) return;
    const targets = uniqueByState(this.members).filter((member) => !claimed.has(member.state));
    for (const target of targets) claimed.add(target.state);
    this.stopChecks = startHealthChecks(targets, check, (target, healthy) => {
      const member = this.members.find((one) => one.state === target.state);
      if (member !== undefined) this.events.healthChanged(this.route, member, healthy);
    });
  }

  stop(): void {
    this.stopChecks?.();
  }
}

/** A URL listed twice in one route is one upstream to check. */
function uniqueByState(members: readonly Member[]): Member[] {
  const seen = new Set<UpstreamState>();
  return members.filter((member) => !seen.has(member.state) && seen.add(member.state) !== undefined);
}
