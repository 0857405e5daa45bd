/**
 * Redaction for `/config`, by position rather than by key name (a secret's key is the user's choice: `x-api-key`,
 * `cookie`, `?sig=`): every header value a `headers` entry sets, every resource and span attribute value, and in
 * every URL the userinfo, each query value and the fragment become `***`. Values under secret-looking keys
 * (`adminToken`, `redis.password`) are replaced too. What stays is the shape: keys, hosts, ports, paths.
 */
import type { Config } from '../config/schema.js';
import { redactUrl } from '../config/redact-url.js';

const MASK = '***';
const SECRET_KEY = /token|password|secret|apikey|api_key|credential/i;

function walk(value: unknown, key: string): unknown {
  if (value instanceof URL) return redactUrl(value.href);
  if (typeof value === 'string') return SECRET_KEY.test(key) && value !== '' ? MASK : redactUrl(value);
  if (Array.isArray(value)) return value.map((item) => walk(item, key));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [childKey, child] of Object.entries(value)) out[childKey] = walk(child, childKey);
    return out;
  }
  return value;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Replaces every value of a string map (header values, attributes) in place. */
function maskValues(map: unknown): void {
  if (!isObject(map)) return;
  for (const name of Object.keys(map)) map[name] = MASK;
}

/** A chain's entries: `headers` set values and `tracing` attributes are masked whatever their names. */
function maskChain(chain: unknown): void {
  if (!Array.isArray(chain)) return;
  for (const entry of chain) {
    if (!isObject(entry)) continue;
    const headers = entry.headers;
    if (isObject(headers))
      for (const side of ['request', 'response']) maskValues((headers[side] as Json | undefined)?.set);
    const tracing = entry.tracing;
    if (isObject(tracing)) maskValues(tracing.attributes);
  }
}

export function redactConfig(config: Config): unknown {
  const out = walk(config, '') as Json;
  maskValues((out.telemetry as Json | undefined)?.resourceAttributes);
  maskValues(((out.telemetry as Json | undefined)?.traces as Json | undefined)?.headers);
  maskChain(out.middleware);
  for (const route of (out.routes as Json[] | undefined) ?? []) maskChain(route.middleware);
  maskChain((out.userLookup as Json | undefined)?.middleware);
  return out;
}
