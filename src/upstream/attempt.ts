/**
 * One request's tries on a resilient route, kept in its context (`req.portico.attempt`): which upstream it is on,
 * which it tried, whether its body may still be replayed, and the accounting (in-flight and pending counts, the
 * retry budget) that must be undone exactly once per try.
 */
import type { Options } from 'http-proxy-middleware';
import type { PassThrough } from 'node:stream';
import type { Member, UpstreamSet } from './set.js';

export class Attempt {
  /** Tries so far, the current one included. */
  tries = 1;
  /** Members tried before the current one; made at the first retry only. */
  tried: Member[] | undefined = undefined;
  /** The current try holds a place in its member's in-flight count. */
  held = false;
  /** The current try waits in its agent's queue for a socket (counted in its member's pending count). */
  pending = false;
  /** The request is on a retry: it counts against the route's retry budget until it ends. */
  retrying = false;
  /** The engine options of the current try, when they are this request's own (a gated body, a droppable answer). */
  options: Options | undefined = undefined;
  /** The request body is held here until the upstream connection is up, so a refused connection can be retried. */
  gate: PassThrough | undefined = undefined;
  /** Some of the request body went to an upstream: it cannot be replayed. */
  bodySent = false;

  constructor(
    readonly set: UpstreamSet,
    public member: Member,
    /** Idempotent method and no body: may be replayed after a reset, a timeout or a 5xx answer. */
    readonly replayable: boolean,
    /** No request body: a refused connection may be retried whatever the method. */
    readonly bodyless: boolean,
    /** The body is gated (a retry route and a body): replayable until the gate opens. */
    readonly gated: boolean,
  ) {}

  /** Takes a place on `member` for a new try. */
  begin(member: Member): void {
    this.member = member;
    member.state.active++;
    this.held = true;
  }

  /** The try had to wait for a socket (every one of the origin's pooled sockets was busy). */
  queued(): void {
    if (this.pending || !this.held) return;
    this.pending = true;
    this.member.state.pending++;
  }

  /** The try got its socket. */
  connected(): void {
    if (!this.pending) return;
    this.pending = false;
    this.member.state.pending--;
  }

  /** The try is over (failed, dropped, or the response ended): its places are given back, once. */
  release(): void {
    if (this.pending) {
      this.pending = false;
      this.member.state.pending--;
    }
    if (this.held) {
      this.held = false;
      this.member.state.active--;
    }
  }
}
