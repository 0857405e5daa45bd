/**
 * The contract of a middleware kind. A kind is one file that exports its options schema and a factory; the
 * registry lists kinds by their YAML name. Factories run once per chain at plan build, never per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Config, MiddlewareEntryConfig } from '../config/schema.js';
import type { Stores } from '../stores/stores.js';
import type { Metrics } from '../telemetry/metrics.js';

/** Continues the chain; an error (anything but undefined, null, 'route' or 'router') ends it at the error sink. */
export type Next = (err?: unknown) => void;

/**
 * What the chain runs: Node's own request and response, as the edge receives them. Express's helpers (`res.json`,
 * `req.ip`) are absent here; only the `express` kind builds Express objects, for the routes that use it.
 */
export type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void | Promise<void>;

/**
 * A handler Portico answers itself (the user lookup, src/users/http.ts), matched before proxied routes. Declared
 * here, beside `Handler`, so its owners import nothing from the plan that runs it.
 */
export interface BuiltinRoute {
  readonly name: string;
  /** True when this request is for the builtin (exact path shape and method). */
  readonly matches: (method: string, path: string) => boolean;
  readonly middleware: readonly MiddlewareEntryConfig[];
  readonly handler: Handler;
  /** Its path template (e.g. `/users/:id`), given to its chain's kinds as `scope.template`. */
  readonly template?: string;
}

/** What a factory may use. Built by the composition root; tests pass their own. */
export interface KindDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly stores: Stores;
  readonly metrics: Metrics;
}

/** Where the handler will run: a route's name, `userLookup`, or `global` for the global chain. */
export interface KindScope {
  readonly route: string;
  /** The route's path template: its `match.pathPrefix`, or a built-in's path; undefined for the 404 chain. */
  readonly template?: string;
  /** The route's upstreams; empty or undefined where nothing is forwarded (built-ins, the 404 chain). */
  readonly upstreams?: readonly URL[];
  /**
   * The entry's raw value in the frozen config (e.g. `{ use: cors }`): stable for the config's lifetime, so a kind
   * finds what its `load` prepared for this very entry. Undefined for a bare-name entry (`logging`).
   */
  readonly entry?: unknown;
}

/** What `load` gets: the config being loaded and the folder of its file (relative paths resolve from there). */
export interface LoadContext {
  readonly config: Config;
  readonly baseDir: string;
  /** The entry's raw value, the same object `create` later receives as `scope.entry`. */
  readonly entry: unknown;
}

/** A problem found by `load`, at a path below the entry's kind key (e.g. `['use']`). */
export interface LoadIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export interface MiddlewareKind<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  /** Schema of the entry's value: `logging` alone parses `undefined`, `rateLimit: per-client` parses the string. */
  readonly options: Schema;
  /** Cross-checks against the whole config (e.g. a named policy exists). Returns an error message or undefined. */
  readonly check?: (options: z.output<Schema>, config: Config) => string | undefined;
  /**
   * Asynchronous preparation at config load (and `portico check`), before any plan is built: e.g. importing a
   * module. Plan build stays synchronous; `create` finds the result by `scope.entry`.
   */
  readonly load?: (options: z.output<Schema>, context: LoadContext) => Promise<LoadIssue | undefined>;
  readonly create: (options: z.output<Schema>, deps: KindDeps, scope: KindScope) => Handler;
}

/** Identity helper that keeps a kind's option type tied to its schema. */
export function defineKind<Schema extends z.ZodType>(kind: MiddlewareKind<Schema>): MiddlewareKind<Schema> {
  return kind;
}
