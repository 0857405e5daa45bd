/**
 * Redaction for `/config`, by position rather than by key name (a secret's key is the user's choice: `x-api-key`,
 * `cookie`, `?sig=`): every header value a `headers` entry sets, every resource and span attribute value, and in
 * every URL the userinfo, each query value and the fragment become `***`. Values under secret-looking keys
 * (`adminToken`, `redis.password`) are replaced too. What stays is the shape: keys, hosts, ports, paths.
 */
import type { Config } from '../config/schema.js';

const MASK = '***';
const SECRET_KEY = /token|password|secret|apikey|api_key|credential/i;
/** Only text with a scheme and `//` is read as a URL: `localhost:6379` parses as one, but has nothing to hide. */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

function maskQuery(search: string): string {
  return search
    .slice(1)
    .split('&')
    .map((pair) => {
      if (pair === '') return pair;
      const eq = pair.indexOf('=');
      return eq === -1 ? MASK : `${pair.slice(0, eq)}=${MASK}`;
    })
    .join('&');
}

/**
 * The URL with its userinfo password masked (a lone username too: `https://TOKEN@host` is a common way to pass a
 * token), each query value masked (names kept) and the fragment masked. Text that is not a URL is returned as is.
 */
export function redactUrl(text: string): string {
  if (!URL_LIKE.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.username === '' && url.password === '' && url.search === '' && url.hash === '') return text;
  if (url.password !== '') url.password = MASK;
  else if (url.username !== '') url.username = MASK;
  if (url.search !== '') url.search = maskQuery(url.search);
  if (url.hash !== '') url.hash = MASK;
  return url.href;
}

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
  maskChain(out.middleware);
  for (const route of (out.routes as Json[] | undefined) ?? []) maskChain(route.middleware);
  maskChain((out.userLookup as Json | undefined)?.middleware);
  return out;
}
