/** The upstream path of a forwarded WebSocket upgrade: the target's base path and query joined with the request's. */
import { upstreamPath } from '../../src/proxy/upgrade.js';

describe('upstreamPath', () => {
  it.each([
    ['http://u', '/ws', '/ws'],
    ['http://u/', '/ws?a=1', '/ws?a=1'],
    ['http://u/svc/v1', '/', '/svc/v1'],
    ['http://u/svc/v1', '/?q=1', '/svc/v1?q=1'],
    ['http://u/svc/v1', '/chat', '/svc/v1/chat'],
    ['http://u/svc/v1/', '/chat', '/svc/v1/chat'],
    ['http://u/svc?k=v', '/chat?q=1', '/svc/chat?k=v&q=1'],
    ['http://u/svc?k=v', '/', '/svc?k=v'],
  ])('%s + %s -> %s', (target, url, expected) => {
    expect(upstreamPath(new URL(target), url)).toBe(expected);
  });
});
