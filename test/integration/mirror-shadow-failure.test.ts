import { once } from 'node:events';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { call, startMirrorStack, startShadow, until, type MirrorStack } from '../helpers/mirror.js';
import { deferred } from '../helpers/pool.js';

describe('mirror: a failing shadow never changes the primary', () => {
  let primary: TestUpstream;
  let hanging: Awaited<ReturnType<typeof startShadow>>;
  let stack: MirrorStack;
  /** Resolved by the hanging shadow when a copy arrives; the primary upstream answers only after that. */
  let copyArrived = deferred();

  beforeAll(async () => {
    primary = await startUpstream((req, res, body) => {
      const reply = (): void => {
        res.writeHead(201, { 'content-type': 'text/plain' });
        res.end(`primary ${req.url} ${body.length}`);
      };
      if (req.url?.includes('wait-for-shadow')) void copyArrived.promise.then(reply);
      else reply();
    });
    hanging = await startShadow(() => copyArrived.resolve()); // never answers
    const refused = `http://127.0.0.1:${await closedPort()}`;
    stack = await startMirrorStack(
      [
        { name: 'plain', match: { pathPrefix: '/plain' }, upstream: primary.url },
        {
          name: 'hang',
          match: { pathPrefix: '/hang' },
          upstream: primary.url,
          mirror: { upstream: hanging.url, timeout: '2s' },
        },
        { name: 'refuse', match: { pathPrefix: '/refuse' }, upstream: primary.url, mirror: { upstream: refused } },
      ],
      { min: 0, max: 1, queue: 0 },
    );
  });
  afterAll(async () => {
    await stack.close();
    await Promise.all([primary.close(), hanging.close()]);
  });

  it('answers the primary while the copy to a hanging shadow is still pending, with the unmirrored status', async () => {
    copyArrived = deferred();
    const baseline = await call(`${stack.url}/plain/baseline`, { method: 'POST', body: 'abc' });
    const mirrored = await call(`${stack.url}/hang/wait-for-shadow`, { method: 'POST', body: 'abc' });
    expect(mirrored.status).toBe(baseline.status);
    expect(mirrored.status).toBe(201);
    expect(mirrored.body).toBe('primary /hang/wait-for-shadow 3');
    // The primary upstream answered only once the copy had reached the shadow, and the shadow has not answered.
    const hit = hanging.hits.at(-1);
    expect(hit?.url).toBe('/hang/wait-for-shadow');
    expect(hit?.res.headersSent).toBe(false);
    expect(stack.pool.stats()).toMatchObject({ busy: 1, completed: 0 });
  });

  it('drops copies when the pool is full (counted) and still serves every primary', async () => {
    // The only worker is held by the hanging copy above and the queue is 0: further copies are refused.
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(`${stack.url}/hang/more-${i}`)).status);
    expect(statuses).toEqual([201, 201, 201]);
    await until(() => stack.pool.stats().rejected === 3, 'three refused copies');
    expect(hanging.hits).toHaveLength(1);
  });

  it('aborts the hanging copy at the mirror timeout, freeing the worker', async () => {
    const hit = hanging.hits[0];
    if (hit === undefined) throw new Error('no pending copy');
    if (!hit.req.socket.destroyed) await once(hit.req.socket, 'close');
    await until(() => stack.pool.stats().timedOut === 1, 'the copy to time out');
    expect(stack.pool.stats()).toMatchObject({ busy: 0, failed: 1 });
  });

  it('keeps the primary status when the shadow refuses connections', async () => {
    const failedBefore = stack.pool.stats().failed;
    const res = await call(`${stack.url}/refuse/x`, { method: 'PUT', body: 'payload' });
    expect(res.status).toBe(201);
    expect(res.body).toBe('primary /refuse/x 7');
    await until(() => stack.pool.stats().failed === failedBefore + 1, 'the refused copy to fail');
  });
});
