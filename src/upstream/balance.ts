/**
 * Choosing an upstream: pure functions over the route's members, no allocation per pick. `eligible` says which
 * members may take this request (available, not already tried by it); the caller decides the panic fallback.
 */
import type { BalancePolicy } from './config.js';

export interface Weighted {
  readonly weight: number;
  /** Smooth weighted round robin's running score (nginx's `current_weight`). */
  score: number;
  /** Requests in flight on this member's upstream. */
  readonly load: () => number;
}

export type Eligible<M> = (member: M) => boolean;

/**
 * Smooth weighted round robin (nginx): every eligible member gains its weight, the highest score wins and pays the
 * total back. Weights 5,1,1 give a a b a c a a rather than a a a a a b c; equal weights give plain round robin.
 */
export function roundRobin<M extends Weighted>(members: readonly M[], eligible: Eligible<M>): M | undefined {
  let total = 0;
  let best: M | undefined;
  for (const member of members) {
    if (!eligible(member)) continue;
    member.score += member.weight;
    total += member.weight;
    if (best === undefined || member.score > best.score) best = member;
  }
  if (best !== undefined) best.score -= total;
  return best;
}

/** One eligible member drawn with probability proportional to its weight; `random` returns [0, 1). */
export function weightedRandom<M extends Weighted>(
  members: readonly M[],
  eligible: Eligible<M>,
  random: () => number,
  skip?: M,
): M | undefined {
  let total = 0;
  for (const member of members) if (member !== skip && eligible(member)) total += member.weight;
  if (total === 0) return undefined;
  let point = random() * total;
  let last: M | undefined;
  for (const member of members) {
    if (member === skip || !eligible(member)) continue;
    last = member;
    point -= member.weight;
    if (point < 0) return member;
  }
  return last;
}

/**
 * Power of two choices: two members drawn by weight, the one with fewer requests in flight per unit of weight wins
 * (ties to the first). Close to "least loaded" without scanning, and without the herd that always choosing the
 * least loaded causes when counts lag.
 */
export function leastRequest<M extends Weighted>(
  members: readonly M[],
  eligible: Eligible<M>,
  random: () => number,
): M | undefined {
  const first = weightedRandom(members, eligible, random);
  if (first === undefined) return undefined;
  const second = weightedRandom(members, eligible, random, first);
  if (second === undefined) return first;
  return second.load() / second.weight < first.load() / first.weight ? second : first;
}

export function pick<M extends Weighted>(
  policy: BalancePolicy,
  members: readonly M[],
  eligible: Eligible<M>,
  random: () => number = Math.random,
): M | undefined {
  if (policy === 'least-request') return leastRequest(members, eligible, random);
  if (policy === 'random') return weightedRandom(members, eligible, random);
  return roundRobin(members, eligible);
}
