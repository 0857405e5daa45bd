/**
 * Response header values, as pure functions. IETF draft-ietf-httpapi-ratelimit-headers-11 structured fields:
 *   RateLimit-Policy: "per-client";q=100;w=60, "per-key";q=10;w=1   (one member per applied policy)
 *   RateLimit: "per-client";r=42;t=17                                (the policy closest to exhaustion)
 * and the legacy X-RateLimit-Limit / -Remaining / -Reset, where Reset is a Unix time in seconds (the GitHub and
 * express-rate-limit convention clients already parse).
 */

/** An sf-string (RFC 9651 §3.3.3): policy names are validated to need no escaping, but stay safe if they did. */
export function quoted(name: string): string {
  return `"${name.replace(/[\\"]/g, '\\$&')}"`;
}

/** One RateLimit-Policy list member: quota `q` units per window `w` seconds. */
export function policyMember(name: string, limit: number, windowMs: number): string {
  return `${quoted(name)};q=${limit};w=${Math.round(windowMs / 1000)}`;
}

/** Seconds until reset, rounded up so a client that waits that long finds the unit free; never negative. */
export function resetSeconds(resetMs: number): number {
  return resetMs > 0 ? Math.ceil(resetMs / 1000) : 0;
}

/** Retry-After (RFC 9110 §10.2.3) for a denial: at least 1, so a client never retries in a tight loop. */
export function retryAfterSeconds(resetMs: number): number {
  return Math.max(1, resetSeconds(resetMs));
}

/** The RateLimit field: remaining units `r` (never negative) and seconds `t` until the window resets. */
export function rateLimitValue(quotedName: string, remaining: number, resetMs: number): string {
  return `${quotedName};r=${Math.max(0, remaining)};t=${resetSeconds(resetMs)}`;
}

/** X-RateLimit-Reset: Unix time in seconds at which the window resets. */
export function legacyReset(resetMs: number, nowMs: number): number {
  return Math.ceil((nowMs + Math.max(0, resetMs)) / 1000);
}

/** Appends a member to a RateLimit-Policy list value. */
export function appendMember(list: string, member: string): string {
  return list === '' ? member : `${list}, ${member}`;
}
