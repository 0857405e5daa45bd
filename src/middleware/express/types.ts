/** The shapes the `express` kind works with: a user's middleware and an entry's options. */
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';

/** What an npm package or a local plugin gives: Express's classic `(req, res, next)`, sync or async. */
export type ExpressMiddleware = (req: Request, res: Response, next: NextFunction) => unknown;

export const expressOptionsSchema = z
  .strictObject({
    use: z
      .string()
      .min(1)
      .describe(
        'An npm package installed beside Portico (`cors`), or a file relative to this config file (`./plugins/audit.js`, `.cjs`, `.mjs`).',
      ),
    export: z
      .string()
      .min(1)
      .optional()
      .describe('The named export to use; without it the default export, or the module itself when it is a function.'),
    factory: z
      .boolean()
      .default(true)
      .describe(
        'True: the export is a factory, called once at load with `options` (`cors(options)`); false: the export is the `(req, res, next)` middleware itself.',
      ),
    options: z
      .unknown()
      .optional()
      .describe('Passed to the factory as its one argument; omitted: the factory is called with none.'),
  })
  .describe('Runs an Express middleware (npm package or local file) in the chain, with Express request and response.');

export type ExpressOptions = z.output<typeof expressOptionsSchema>;
