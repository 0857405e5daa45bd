/**
 * The contract of a middleware kind. A kind is one file that exports its options schema and a factory; the
 * registry lists kinds by their YAML name. Factories run once per chain at plan build, never per request.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Stores } from '../stores/stores.js';
import type { Metrics } from '../admin/metrics.js';

export type Handler = (req: Request, res: Response, next: NextFunction) => void | Promise<void>;

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
}

export interface MiddlewareKind<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  /** Schema of the entry's value: `logging` alone parses `undefined`, `rateLimit: per-client` parses the string. */
  readonly options: Schema;
  /** Cross-checks against the whole config (e.g. a named policy exists). Returns an error message or undefined. */
  readonly check?: (options: z.output<Schema>, config: Config) => string | undefined;
  readonly create: (options: z.output<Schema>, deps: KindDeps, scope: KindScope) => Handler;
}

/** Identity helper that keeps a kind's option type tied to its schema. */
export function defineKind<Schema extends z.ZodType>(kind: MiddlewareKind<Schema>): MiddlewareKind<Schema> {
  return kind;
}
