/**
 * The user as the lookup serves it. A found user travels through the cache and the service as its response body
 * (the exact JSON text) and that body's ETag, so the hit path only copies bytes: no parse, no stringify.
 */
import { hash } from 'node:crypto';
import { PorticoError } from '../errors.js';

export interface User {
  readonly id: number;
  readonly name: string;
  readonly email: string;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
}

/** A found user, ready to send. */
export interface UserEntry {
  /** `{"id":..,"name":..,"email":..,"createdAt":..}` */
  readonly json: string;
  /** Strong validator of `json` (RFC 9110 §8.8.3), quoted. */
  readonly etag: string;
}

/** What a lookup knows: the user, or `null` for a user known to be absent. */
export type Lookup = UserEntry | null;

const ID = /^[1-9][0-9]{0,15}$/;

/**
 * Ids are positive integers within JavaScript's safe range, so the JSON `id` is an exact number for any client.
 * Returns the canonical decimal text, or undefined for anything else (leading zeros, signs, spaces, encodings).
 */
export function parseUserId(raw: string): string | undefined {
  return ID.test(raw) && Number(raw) <= Number.MAX_SAFE_INTEGER ? raw : undefined;
}

/** Like parseUserId, for callers that must fail (admin invalidation, pub/sub). */
export function requireUserId(raw: string): string {
  const id = parseUserId(raw);
  if (id === undefined)
    throw new PorticoError('PORTICO_INVALID_USER_ID', 'user id must be a positive integer', {
      context: { userId: raw.slice(0, 40) },
    });
  return id;
}

export function etagOf(json: string): string {
  return `"${hash('sha1', json, 'base64url')}"`;
}

export function entryOf(user: User): UserEntry {
  const json = JSON.stringify({ id: user.id, name: user.name, email: user.email, createdAt: user.createdAt });
  return { json, etag: etagOf(json) };
}
