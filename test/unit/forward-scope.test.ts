/**
 * Forwards from a synchronous dispatch wait for the end of the event-loop turn and leave together
 * (src/proxy/forward-scope.ts); forwards made later go at once, and each runs with its request as the current forward.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import { beginSyncDispatch, currentForward, endSyncDispatch, forwardInTurn } from '../../src/proxy/forward-scope.js';

const request = (name: string) => ({ name }) as unknown as IncomingMessage;
const response = (destroyed = false) => ({ destroyed });
const turnEnd = () => new Promise((resolve) => setImmediate(resolve));

test('forwards made during a synchronous dispatch wait for the end of the turn, in order, each as the current forward', async () => {
  const sent: Array<[unknown, unknown]> = [];
  const send = (req: IncomingMessage) => sent.push([(req as unknown as { name: string }).name, currentForward()]);
  const a = request('a');
  const b = request('b');
  for (const req of [a, b]) {
    beginSyncDispatch();
    forwardInTurn(req, response(), send);
    endSyncDispatch();
  }
  expect(sent).toEqual([]);
  await turnEnd();
  expect(sent).toEqual([
    ['a', a],
    ['b', b],
  ]);
  expect(currentForward()).toBeUndefined();
});

test('a forward made outside a synchronous dispatch (after an await) goes at once', () => {
  const sent: string[] = [];
  forwardInTurn(request('late'), response(), (req) => sent.push((req as unknown as { name: string }).name));
  expect(sent).toEqual(['late']);
});

test('a client gone while its forward waited is not forwarded', async () => {
  const sent: string[] = [];
  const res = { destroyed: false };
  beginSyncDispatch();
  forwardInTurn(request('gone'), res, (req) => sent.push((req as unknown as { name: string }).name));
  endSyncDispatch();
  res.destroyed = true;
  await turnEnd();
  expect(sent).toEqual([]);
});

test('a deferred forward runs in the async context of the turn, not of its own request (the documented limit)', async () => {
  const store = new AsyncLocalStorage<string>();
  const seen: Array<[string, string | undefined]> = [];
  const send = (req: IncomingMessage) => seen.push([(req as unknown as { name: string }).name, store.getStore()]);
  for (const name of ['a', 'b']) {
    store.run(name, () => {
      beginSyncDispatch();
      forwardInTurn(request(name), response(), send);
      endSyncDispatch();
    });
  }
  await turnEnd();
  // Each forward has its own request (state comes from `req.portico`), but both run in the first one's context.
  expect(seen).toEqual([
    ['a', 'a'],
    ['b', 'a'],
  ]);
});
