/**
 * Clients that go away mid-exchange. The upstream request must be aborted (not left to the route timeout), and no
 * socket may stay behind: counted on Portico's listener, on the upstream's listener and in Portico's agent.
 */
import http from 'node:http';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { agentSockets, connections, portico, settlesTo, stopAll, upstream } from './support.js';

afterEach(stopAll);

const CHUNK = Buffer.alloc(64 * 1024, 98);

async function setup() {
  const outcomes: string[] = [];
  const arrived = new Set<string>();
  const up = await upstream();
  up.server.removeAllListeners('request');
  up.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    arrived.add(req.url ?? '');
    res.on('close', () => outcomes.push(`${req.url} ${res.writableFinished ? 'finished' : 'aborted'}`));
    if (req.url === '/download') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let writes = 0;
      const timer = setInterval(() => {
        res.write(CHUNK);
        if (++writes === 500) {
          clearInterval(timer);
          res.end();
        }
      }, 5);
      res.on('close', () => clearInterval(timer));
      return;
    }
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const p = await portico(`routes:\n  - name: api\n    timeout: 30s\n    upstream: ${up.url}\n`);
  /** Nothing held anywhere: an aborted exchange never returns its upstream socket to the pool. */
  const released = async () => {
    await settlesTo(() => connections(p.server()), 0, 'Portico client connections');
    await settlesTo(() => agentSockets(up.port), 0, 'agent sockets (busy + idle)');
    await settlesTo(() => connections(up.server), 0, 'upstream connections');
  };
  /** True once the upstream has the request for `path`: from then on an abort is "mid-upload". */
  const reached = (path: string) => () => arrived.has(path);
  return { up, p, outcomes, released, reached };
}

/** Sends `afterBytes` of a larger upload, waits until the upstream has the request, then aborts. */
function abortUpload(url: string, afterBytes: number, reached: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'PUT',
      agent: false,
      headers: { 'content-length': String(100 * CHUNK.length) },
    });
    req.on('error', () => resolve());
    let sent = 0;
    const pump = (): void => {
      while (sent < afterBytes) {
        sent += CHUNK.length;
        if (!req.write(CHUNK)) {
          req.once('drain', pump);
          return;
        }
      }
      waitFor(reached, { message: `the upstream to receive ${url}` }).then(
        () => req.destroy(),
        (err: unknown) => {
          req.destroy();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    };
    pump();
  });
}

function abortDownload(url: string, afterBytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= afterBytes) {
          req.destroy();
          resolve(got);
        }
      });
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
  });
}

describe('client aborts', () => {
  it('mid-upload: the upstream request is aborted and every socket is released', async () => {
    const { p, outcomes, released, reached } = await setup();
    await abortUpload(`${p.portico.proxyUrl}/upload`, 8 * CHUNK.length, reached('/upload'));
    await settlesTo(() => outcomes.join(), '/upload aborted', 'upstream request aborted');
    await released();
  });

  it('mid-download: the upstream response is aborted and every socket is released', async () => {
    const { p, outcomes, released } = await setup();
    const got = await abortDownload(`${p.portico.proxyUrl}/download`, 4 * CHUNK.length);
    expect(got).toBeLessThan(500 * CHUNK.length);
    await settlesTo(() => outcomes.join(), '/download aborted', 'upstream response aborted');
    await released();
  });

  it('a burst of 40 mixed aborts leaks nothing and service continues', async () => {
    const { up, p, outcomes, released, reached } = await setup();
    const url = p.portico.proxyUrl;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0
          ? abortUpload(`${url}/upload/${i}`, 2 * CHUNK.length, reached(`/upload/${i}`))
          : abortDownload(`${url}/download`, CHUNK.length),
      ),
    );
    await settlesTo(() => outcomes.length, 40, 'all 40 upstream exchanges to end');
    expect(outcomes.filter((o) => o.endsWith('finished'))).toEqual([]);
    await released();
    expect((await request(`${url}/after`)).status).toBe(200);
    // The pool works again: the one good exchange leaves one idle keep-alive socket, and nothing else.
    await settlesTo(() => agentSockets(up.port), 1, 'agent sockets after a good exchange');
    expect(await connections(up.server)).toBe(1);
  });
});
