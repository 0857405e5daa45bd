/**
 * When the schema rejects a file, the cross-checks (unknown middleware kinds, unknown policies, duplicate route
 * names) still run on the parts that could be read, so one `portico check` shows both kinds of error. The
 * invalid values are removed until the rest validates: a value first (its default then applies), then, when the
 * value was required, the object holding it, and so on up. A policy that does not validate, and a route's
 * invalid name or upstream, are replaced by placeholders rather than removed, so references to the policy are not
 * reported as unknown and the route's chain is still checked. The result feeds the cross-checks only; it is never
 * served.
 */
import { rateLimitPolicySchema } from '../middleware/rate-limit/policy.js';
import { configSchema, type Config } from './schema.js';

/** Each round removes at least one more value; nesting is a few levels deep, so this bounds it generously. */
const MAX_ROUNDS = 16;
/** The input of a policy that validates: stands in for one that does not (its own issues are reported already). */
const PLACEHOLDER_POLICY = { limit: 1, window: '1s' };
rateLimitPolicySchema.parse(PLACEHOLDER_POLICY);

/**
 * Stand-ins for values that are required and that cross-checks do not read, so an invalid one does not take its
 * whole policy or route (and the route's chain) out of the checks.
 */
function placeholderFor(path: Path): unknown {
  if (path.length === 2 && path[0] === 'rateLimits') return { ...PLACEHOLDER_POLICY };
  if (path.length === 3 && path[0] === 'routes' && path[2] === 'upstream') return 'http://placeholder.invalid';
  // Unlikely in a file (a leading dot), so it does not collide in the duplicate-name check.
  if (path.length === 3 && path[0] === 'routes' && path[2] === 'name') return `.unreadable-name-${String(path[1])}`;
  return undefined;
}

type Path = readonly PropertyKey[];
type Container = Record<PropertyKey, unknown>;

const pathKey = (path: Path): string => path.map(String).join('\u0000');

function replace(root: Container, path: Path, replacement: unknown): void {
  let node: unknown = root;
  for (const part of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Container)[part];
  }
  if (node === null || typeof node !== 'object') return;
  const last = path[path.length - 1] as PropertyKey;
  if (replacement !== undefined || Array.isArray(node)) (node as Container)[last] = replacement;
  else delete (node as Container)[last];
}

/** The config with its invalid parts removed, or undefined when nothing of it validates. */
export function salvage(raw: object): Config | undefined {
  const value = structuredClone(raw) as Container;
  const removed = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const parsed = configSchema.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) replace(value, [...issue.path, key], undefined);
        continue;
      }
      let path: Path = issue.path;
      while (path.length > 0 && removed.has(pathKey(path))) path = path.slice(0, -1);
      if (path.length === 0) return undefined;
      removed.add(pathKey(path));
      replace(value, path, placeholderFor(path));
    }
  }
  return undefined;
}
