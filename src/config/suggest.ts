/**
 * "Did you mean" for unknown keys: walks the zod schema along the path to find the keys that are allowed
 * there, and proposes the closest by edit distance.
 */
import type { z } from 'zod';
import { defOf } from './zod-def.js';

/** Strips wrappers (default, optional, pipe, …) down to the schema that shapes the value. */
function unwrap(schema: z.ZodType): z.ZodType[] {
  const def = defOf(schema);
  if (def.innerType) return unwrap(def.innerType);
  if (def.type === 'pipe' && def.in) return unwrap(def.in);
  if (def.type === 'union' && def.options) return def.options.flatMap(unwrap);
  return [schema];
}

/** The object keys allowed at `path` (below the root schema), or an empty list when unknown. */
export function allowedKeys(root: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current = unwrap(root);
  for (const part of path) {
    const next: z.ZodType[] = [];
    for (const schema of current) {
      const def = defOf(schema);
      if (def.type === 'object' && def.shape && typeof part === 'string' && def.shape[part]) next.push(def.shape[part]);
      else if (def.type === 'array' && def.element && typeof part === 'number') next.push(def.element);
      else if (def.type === 'record' && def.valueType && typeof part === 'string') next.push(def.valueType);
    }
    current = next.flatMap(unwrap);
  }
  const keys = new Set<string>();
  for (const schema of current) {
    const def = defOf(schema);
    if (def.type === 'object' && def.shape) for (const key of Object.keys(def.shape)) keys.add(key);
  }
  return [...keys];
}

export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

/** The closest candidate within a distance of a third of the word (at least 2), or undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
