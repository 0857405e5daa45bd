/**
 * The middleware kinds, by their YAML name. Adding a kind: write `src/middleware/<kind>.ts` exporting a
 * `defineKind({...})`, and add it to this list. Nothing else changes.
 */
import type { MiddlewareKind } from './kind.js';
import type { KindRegistry } from './entries.js';
import { expressKind } from './express/index.js';
import { headersKind } from './headers.js';
import { rateLimitKind } from './rate-limit/index.js';
import { loggingKind } from './logging.js';
import { tracingKind } from '../tracing/kind.js';

const KINDS: readonly MiddlewareKind[] = [
  headersKind as MiddlewareKind,
  rateLimitKind as MiddlewareKind,
  loggingKind as MiddlewareKind,
  tracingKind as MiddlewareKind,
  expressKind as MiddlewareKind,
];

export const defaultRegistry: KindRegistry = new Map(KINDS.map((kind) => [kind.name, kind]));
