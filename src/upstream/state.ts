/**
 * What Portico knows about one upstream, kept per upstream URL and shared by every route and every plan that lists
 * it: a reload that keeps an upstream keeps its health verdict, its ejection and its in-flight counts (like its
 * agent, src/proxy/agents.ts, and its proxy, src/proxy/forward.ts `createUpstreamProxies`).
 */
export class UpstreamState {
  /** The active health checks' verdict; true until checks say otherwise. */
  healthy = true;
  /** Checks passed / failed in a row (one of them is 0). */
  checksPassed = 0;
  checksFailed = 0;
  /** Requests failed in a row (outlier detection). */
  failures = 0;
  /** Ejected until this time (ms, the set's clock); 0 when not ejected. */
  ejectedUntil = 0;
  /** Ejections in a row: the next ejection lasts one more base time. */
  timesEjected = 0;
  /** Attempts in flight through resilient routes, those waiting for a connection included. */
  active = 0;
  /** Attempts waiting in the agent's queue for a connection (every pooled socket to the origin busy). */
  pending = 0;

  constructor(readonly href: string) {}
}

export interface UpstreamStates {
  stateFor(url: URL): UpstreamState;
  /** Forgets upstreams no plan lists any more (called after a plan swap with the hrefs the new plan lists). */
  retain(hrefs: ReadonlySet<string>): void;
}

export function createUpstreamStates(): UpstreamStates {
  const states = new Map<string, UpstreamState>();
  return {
    stateFor(url) {
      let state = states.get(url.href);
      if (state === undefined) {
        state = new UpstreamState(url.href);
        states.set(url.href, state);
      }
      return state;
    },
    retain(hrefs) {
      // An upstream with requests in flight (an old plan's) keeps its counts until they finish.
      for (const [href, state] of states) if (!hrefs.has(href) && state.active === 0) states.delete(href);
    },
  };
}

/** In the balance: healthy by the checks and not ejected at `now`. */
export function isAvailable(state: UpstreamState, now: number): boolean {
  return state.healthy && state.ejectedUntil <= now;
}
