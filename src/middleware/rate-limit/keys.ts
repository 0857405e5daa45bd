/**
 * Rate-limit keys. A policy's key parts (ip, header:<name>, route) are compiled once into a function that turns a
 * request into the counter id `{<policy>:<client>}`; the limiter backends prefix it (`portico:rl:`). The braces
 * are a Redis Cluster hash tag: every counter of one policy and client lands on one slot.
 *
 * The client part never contains `{`, `}` or `|`: ips and route names cannot, header values are always hashed
 * (a credential such as an API key never appears in Redis key names), and the anonymous marker `*` is outside the
 * hash alphabet, so no header value can collide with "header missing".
 */
import { hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** `ip`, `route` or `header:<Name>`, as validated by the policy schema. */
export type KeyPart = string;

/** Stands for a missing keyed header when the policy limits such requests under one shared key. */
export const ANONYMOUS = '*';
/** Client parts longer than this (long route names combined) are hashed to keep keys short. */
export const MAX_CLIENT_LENGTH = 128;

/** Returns the client part, or undefined when a keyed header is missing and the policy rejects such requests. */
export type KeyFunction = (req: IncomingMessage) => string | undefined;

/** 128 bits of sha256, base64url (22 characters): collision-free for any realistic keyspace. */
export function shortHash(value: string): string {
  return hash('sha256', value, 'base64url').slice(0, 22);
}

function headerPart(name: string, anonymous: boolean): KeyFunction {
  const lower = name.toLowerCase();
  return (req) => {
    const raw = req.headers[lower];
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    if (value === undefined || value === '') return anonymous ? ANONYMOUS : undefined;
    return shortHash(value);
  };
}

function partFunction(part: KeyPart, anonymous: boolean): KeyFunction {
  if (part === 'ip') return (req) => req.portico?.clientIp || '-';
  if (part === 'route') return (req) => req.portico?.route ?? '-';
  if (part.startsWith('header:')) return headerPart(part.slice('header:'.length), anonymous);
  throw new Error(`unknown rate-limit key part "${part}"`);
}

/** Compiles a policy's key into a function returning `{<policy>:<client>}` (or undefined: reject the request). */
export function compileKey(
  policy: string,
  key: KeyPart | readonly KeyPart[],
  onMissingKey: 'anonymous' | 'reject',
): KeyFunction {
  const parts = (typeof key === 'string' ? [key] : key).map((part) => partFunction(part, onMissingKey === 'anonymous'));
  const open = `{${policy}:`;
  const finish = (client: string): string =>
    `${open}${client.length > MAX_CLIENT_LENGTH ? shortHash(client) : client}}`;
  if (parts.length === 1) {
    const only = parts[0] as KeyFunction;
    return (req) => {
      const client = only(req);
      return client === undefined ? undefined : finish(client);
    };
  }
  return (req) => {
    let client = '';
    for (let i = 0; i < parts.length; i++) {
      const value = (parts[i] as KeyFunction)(req);
      if (value === undefined) return undefined;
      client = i === 0 ? value : `${client}|${value}`;
    }
    return finish(client);
  };
}
