/**
 * Outage episodes of a store that fails and answers call by call, for logs that say each change once.
 *
 * A plain failing/answering flag logs every flip. That is right for a Redis that goes down and comes back, and a log
 * storm for one that is partly down: a Redis Cluster with one master lost (until its replica takes over, or for good
 * with `cluster-require-full-coverage no`) fails the commands for that master's slots and answers the rest, so
 * requests alternate and each alternation would log a "degraded" and a "recovered" line. Here a failure that comes
 * within `quietMs` of the last recovery is a flap: the state still flips (readiness stays truthful), but it is not
 * logged; instead a "flapping" notice, at most once per `noticeMs`, counts them. Once no failure has been seen for
 * `quietMs`, the next answer ends the flapping with one "recovered" line.
 */

/** What the caller should log for this call, if anything. */
export type EpisodeChange = 'degraded' | 'recovered' | 'flapping' | undefined;

export interface EpisodeOptions {
  /** A failure this soon after a recovery is a flap, and flapping ends after this long without a failure. */
  readonly quietMs: number;
  /** At most one "flapping" notice per this interval. */
  readonly noticeMs: number;
  readonly now?: () => number;
}

export const EPISODE_DEFAULTS: EpisodeOptions = { quietMs: 5000, noticeMs: 30_000 };

export class Episode {
  /** The last call failed. */
  failing = false;
  /** Flaps since flapping began; 0 when not flapping. */
  flaps = 0;
  /** The flaps counted by the change just returned, for its log line. */
  reported = 0;
  private lastFailure = Number.NEGATIVE_INFINITY;
  private lastRecovery = Number.NEGATIVE_INFINITY;
  private lastNotice = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly options: EpisodeOptions = EPISODE_DEFAULTS) {
    this.now = options.now ?? Date.now;
  }

  failure(): EpisodeChange {
    const now = this.now();
    this.lastFailure = now;
    if (this.failing) return undefined;
    this.failing = true;
    if (this.flaps === 0 && now - this.lastRecovery >= this.options.quietMs) return 'degraded';
    this.flaps++;
    if (now - this.lastNotice < this.options.noticeMs) return undefined;
    this.lastNotice = now;
    this.reported = this.flaps;
    return 'flapping';
  }

  success(): EpisodeChange {
    if (!this.failing && this.flaps === 0) return undefined; // the hot path: nothing is or was wrong
    const now = this.now();
    if (this.failing) {
      this.failing = false;
      this.lastRecovery = now;
      if (this.flaps > 0) return undefined; // a flap: the end of the flapping is told once it has been quiet
      this.reported = 0;
      return 'recovered';
    }
    if (now - this.lastFailure < this.options.quietMs) return undefined;
    this.lastRecovery = now;
    this.reported = this.flaps;
    this.flaps = 0;
    return 'recovered';
  }
}
