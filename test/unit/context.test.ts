/**
 * The request context is the one place for per-request state (src/context.ts): every field exists from the
 * constructor on, so filling state in later never changes a context's shape (its V8 hidden class).
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import pino from 'pino';
import { contextOf, createContext } from '../../src/context.js';

function fresh(): { req: IncomingMessage; res: ServerResponse } {
  const req = new IncomingMessage(new Socket());
  return { req, res: new ServerResponse(req) };
}

test('a context has all its per-request fields from the start: setting state adds no property', () => {
  const { req, res } = fresh();
  const ctx = createContext(req, res, { id: 'r1', clientIp: '127.0.0.1', log: pino({ enabled: false }) });
  const before = Object.keys(ctx);
  ctx.closeWanted = true;
  ctx.capClient = '127.0.0.1';
  ctx.forwarding = { route: 'api', timeoutMs: 1000 };
  ctx.retried = true;
  ctx.bytesIn = 1;
  ctx.bytesOut = 2;
  ctx.socketOut = 3;
  ctx.upstream = 'http://127.0.0.1:1';
  ctx.route = 'api';
  expect(Object.keys(ctx)).toEqual(before);
  expect(before).toEqual(
    expect.arrayContaining(['forwarding', 'proxyReq', 'loggingEntry', 'rateLimits', 'traced', 'meter', 'forwardedAt']),
  );
});

test('contextOf finds the context the edge set, and refuses a request that has none', () => {
  const { req, res } = fresh();
  expect(() => contextOf(req)).toThrow('request context missing');
  const ctx = createContext(req, res, { id: 'r2', clientIp: '::1', log: pino({ enabled: false }) });
  expect(contextOf(req)).toBe(ctx);
  expect(req.portico).toBe(ctx);
});
