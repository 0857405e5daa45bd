/**
 * Chain composition: a route's handlers (global, then the route's own, in declared order) are composed once at
 * plan build into one function. An error passed to `next` or thrown (sync or async) ends the chain at `onError`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Handler, Next } from '../middleware/kind.js';

export type Terminal = (req: IncomingMessage, res: ServerResponse) => void;
export type ErrorSink = (err: unknown, req: IncomingMessage, res: ServerResponse) => void;

export function compose(handlers: readonly Handler[], terminal: Terminal, onError: ErrorSink): Terminal {
  if (handlers.length === 0) return terminal;
  return (req, res) => {
    let index = 0;
    const next: Next = (err?: unknown) => {
      if (err !== undefined && err !== null && err !== 'route' && err !== 'router') {
        onError(err, req, res);
        return;
      }
      const handler = handlers[index++];
      if (handler === undefined) {
        terminal(req, res);
        return;
      }
      try {
        const result = handler(req, res, next);
        if (result !== undefined && typeof result.then === 'function') result.then(undefined, next);
      } catch (thrown) {
        next(thrown ?? new Error('middleware threw a nullish value'));
      }
    };
    next();
  };
}
