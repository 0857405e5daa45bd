/**
 * An async route whose chain runs the express kind: a body parser (express.json) reads the body before the accept,
 * and the task stores the exact bytes it read (not a re-serialisation).
 */
import { rmSync } from 'node:fs';
import { request, waitFor } from '../helpers/http.js';
import { pluginFolder, startFromFolder } from '../helpers/express-plugins.js';
import { startUpstream } from '../helpers/upstream.js';

it('stores the bytes an Express body parser read, and delivers them', async () => {
  const bodies: string[] = [];
  const up = await startUpstream((_req, res, body) => {
    bodies.push(body.toString());
    res.writeHead(200).end();
  });
  const folder = pluginFolder();
  folder.write(`routes:
  - name: hooks
    match: { pathPrefix: /hooks }
    upstream: ${up.url}
    middleware:
      - express: { use: express, export: json }
    async: { backoff: 10ms }
`);
  const portico = await startFromFolder(folder);
  try {
    const sent = '{ "a" : 1,\n "b": [1, 2, 3] }'; // spacing a re-serialisation would lose
    const res = await request(`${portico.proxyUrl}/hooks/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: sent,
    });
    expect(res.status).toBe(202);
    await waitFor(() => bodies.length === 1);
    expect(bodies).toEqual([sent]);
  } finally {
    await portico.shutdown();
    await up.close();
    rmSync(folder.dir, { recursive: true, force: true });
  }
});
