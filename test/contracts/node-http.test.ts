/**
 * Node's HTTP client, as src/proxy/forward.ts uses it: when the keep-alive agent reads the upstream's Keep-Alive hint.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { assumption, close, listen } from './support';

assumption(
  "Node's keep-alive agent reads the response's `keep-alive` header when the socket is freed, after the response's own `end` listeners ran",
  'src/proxy/forward.ts onProxyRes() blanks the hint, restoreKeepAliveHint() restores it on `end`: the agent must still see it then',
  async () => {
    const { server, url } = await listen((_req, res) => {
      res.writeHead(200, { 'keep-alive': 'timeout=5', 'content-length': '2' });
      res.end('ok');
    });
    const agent = new http.Agent({ keepAlive: true, timeout: 60_000 });
    try {
      const freed = once(agent, 'free') as Promise<[Socket]>;
      await new Promise<void>((resolve, reject) => {
        http
          .get(url, { agent }, (res) => {
            const hint = res.headers['keep-alive'];
            res.headers['keep-alive'] = undefined; // what onProxyRes does while the engine copies headers
            res.on('end', () => {
              res.headers['keep-alive'] = hint; // what restoreKeepAliveHint does
              resolve();
            });
            res.resume();
          })
          .on('error', reject);
      });
      const [socket] = await freed;
      // The agent closes an idle socket a second before the upstream's announced timeout (5 s).
      expect(socket.timeout).toBe(4000);
    } finally {
      agent.destroy();
      await close(server);
    }
  },
);
