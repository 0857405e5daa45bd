import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestPortico } from '../helpers/portico.js';
import { call, startMirrorStack, startShadow, until, type MirrorStack, type ShadowHit } from '../helpers/mirror.js';

describe('mirror: the shadow receives a copy', () => {
  let primary: TestUpstream;
  let shadow: Awaited<ReturnType<typeof startShadow>>;
  let stack: MirrorStack;

  beforeAll(async () => {
    primary = await startUpstream();
    shadow = await startShadow((hit) => hit.res.end('shadow'));
    stack = await startMirrorStack([
      { name: 'mirrored', match: { pathPrefix: '/api' }, upstream: primary.url, mirror: { upstream: shadow.url } },
      {
        name: 'stripped',
        match: { pathPrefix: '/strip' },
        upstream: primary.url,
        stripPrefix: true,
        mirror: { upstream: `${shadow.url}/base/` },
      },
      {
        name: 'capped',
        match: { pathPrefix: '/capped' },
        upstream: primary.url,
        mirror: { upstream: shadow.url, maxBodySize: 10 },
      },
      {
        name: 'limited',
        match: { pathPrefix: '/limited' },
        upstream: primary.url,
        maxBodySize: 1000,
        mirror: { upstream: shadow.url },
      },
      {
        name: 'never',
        match: { pathPrefix: '/never' },
        upstream: primary.url,
        mirror: { upstream: shadow.url, sampleRatio: 0 },
      },
    ]);
  });
  afterAll(async () => {
    await stack.close();
    await Promise.all([primary.close(), shadow.close()]);
  });

  async function nextHit(count: number): Promise<ShadowHit> {
    await until(() => shadow.hits.length >= count, `shadow hit #${count}`);
    return shadow.hits[count - 1] as ShadowHit;
  }

  it('copies method, path, headers with X-Request-Id, and the body', async () => {
    const body = JSON.stringify({ order: 42, note: 'x'.repeat(2000) });
    const res = await call(`${stack.url}/api/orders?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'mirror-copy-1', 'x-custom': 'kept' },
      body,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ method: 'POST', bodyBytes: Buffer.byteLength(body) });
    const hit = await nextHit(1);
    expect(hit).toMatchObject({ method: 'POST', url: '/api/orders?x=1' });
    expect(hit.headers).toMatchObject({
      'x-request-id': 'mirror-copy-1',
      'x-custom': 'kept',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    });
    expect(hit.body.toString()).toBe(body);
  });

  it('copies a chunked body whole, and the primary still gets all of it', async () => {
    const parts = ['first-', 'second-', 'third'];
    const before = shadow.hits.length;
    const res = await call(`${stack.url}/api/chunked`, {
      method: 'PUT',
      headers: { 'x-request-id': 'mirror-chunked' },
      body: parts,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ bodyBytes: parts.join('').length });
    const hit = await nextHit(before + 1);
    expect(hit.body.toString()).toBe(parts.join(''));
    expect(hit.headers['transfer-encoding']).toBeUndefined();
    expect(hit.headers['x-request-id']).toBe('mirror-chunked');
  });

  it('copies a chunked body whole on a route that also enforces maxBodySize', async () => {
    const parts = ['aaaa', 'bbbb', 'cccc'];
    const before = shadow.hits.length;
    const res = await call(`${stack.url}/limited/x`, {
      method: 'POST',
      headers: { 'x-request-id': 'mirror-limited' },
      body: parts,
    });
    expect(JSON.parse(res.body)).toMatchObject({ bodyBytes: 12 });
    const hit = await nextHit(before + 1);
    expect(hit.body.toString()).toBe(parts.join(''));
  });

  it('sends the path the primary upstream sees, under the shadow URL path', async () => {
    const before = shadow.hits.length;
    const res = await call(`${stack.url}/strip/items/7`, { headers: { 'x-request-id': 'mirror-strip' } });
    expect(JSON.parse(res.body)).toMatchObject({ url: '/items/7' });
    const hit = await nextHit(before + 1);
    expect(hit.url).toBe('/base/items/7');
  });

  it('drops the copy of a body over maxBodySize while the primary gets it whole', async () => {
    const before = shadow.hits.length;
    const big = await call(`${stack.url}/capped/big`, { method: 'POST', body: 'y'.repeat(11) });
    expect(JSON.parse(big.body)).toMatchObject({ bodyBytes: 11 });
    const bigChunked = await call(`${stack.url}/capped/big`, { method: 'POST', body: ['y'.repeat(6), 'y'.repeat(6)] });
    expect(JSON.parse(bigChunked.body)).toMatchObject({ bodyBytes: 12 });
    // A small request sent after them is the next copy the shadow sees: the two large ones were dropped.
    await call(`${stack.url}/capped/small`, { method: 'POST', headers: { 'x-request-id': 'mirror-small' }, body: 'z' });
    const hit = await nextHit(before + 1);
    expect(hit.headers['x-request-id']).toBe('mirror-small');
    expect(shadow.hits).toHaveLength(before + 1);
  });

  it('sampleRatio 0 sends nothing', async () => {
    await until(() => stack.pool.stats().busy === 0, 'earlier copies to finish');
    const before = stack.pool.stats().completed;
    await call(`${stack.url}/never/x`);
    await call(`${stack.url}/api/after-never`, { headers: { 'x-request-id': 'after-never' } });
    await until(() => shadow.hits.some((hit) => hit.headers['x-request-id'] === 'after-never'), 'the later copy');
    expect(shadow.hits.some((hit) => hit.url.startsWith('/never'))).toBe(false);
    expect(stack.pool.stats().completed).toBe(before + 1);
  });
});

describe('mirror: wired by the composition root', () => {
  it('a route with mirror in YAML sends copies through the pool that startPortico builds', async () => {
    const primary = await startUpstream();
    const shadow = await startShadow((hit) => hit.res.end());
    const portico = await startTestPortico(
      `routes:\n  - name: yaml-mirrored\n    match: { pathPrefix: /m }\n    upstream: ${primary.url}\n    mirror: { upstream: ${shadow.url}, sampleRatio: 1.0 }\n`,
    );
    try {
      const res = await call(`${portico.proxyUrl}/m/1`, { headers: { 'x-request-id': 'yaml-mirror' } });
      expect(res.status).toBe(200);
      await until(() => shadow.hits.length === 1, 'the copy');
      expect(shadow.hits[0]?.headers['x-request-id']).toBe('yaml-mirror');
    } finally {
      await portico.shutdown();
      await Promise.all([primary.close(), shadow.close()]);
    }
  });
});
