/**
 * Request smuggling corpus over raw sockets. Every message here has framing that two HTTP parsers could read two
 * ways (or that is simply malformed); each must be answered 400 with the connection closed, and nothing (not the
 * request, not the request hidden behind it) may reach the upstream. The control case proves the detector works.
 */
import type { IncomingMessage } from 'node:http';
import { rawExchange } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { outgoingMade, outgoingOpen, portico, stopAll, upstream } from './support.js';

afterAll(stopAll);

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const H = 'Host: x\r\n';

const CORPUS: ReadonlyArray<[string, string]> = [
  [
    'Content-Length with Transfer-Encoding (CL.TE)',
    `POST /@ HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Transfer-Encoding with Content-Length (TE.CL)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'duplicate Content-Length, different values',
    `POST /@ HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 40\r\n\r\nabc${SMUGGLED}`,
  ],
  ['duplicate Content-Length, same value', `POST /@ HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`],
  ['Content-Length list', `POST /@ HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`],
  ['Content-Length with a sign', `POST /@ HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`],
  ['negative Content-Length', `POST /@ HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`],
  ['Content-Length overflowing 64 bits', `POST /@ HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n`],
  ['obs-fold continuation line', `GET /@ HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`],
  [
    'obs-fold hiding chunked',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  ['whitespace before the colon', `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['leading whitespace on the first header line', `GET /@ HTTP/1.1\r\n ${H}\r\n`],
  [
    'chunked, identity (chunked not last)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  ['identity, chunked', `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  [
    'gzip, chunked (a coding Portico would drop)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
  ],
  [
    'two Transfer-Encoding lines',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'duplicate chunked lines',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  ],
  ['unknown coding xchunked', `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding: identity alone', `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding in HTTP/1.0', `POST /@ HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['chunk size not hex (body)', `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
  ['negative chunk size (body)', `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n`],
  [
    'chunk size overflowing 64 bits (body)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n`,
  ],
  [
    'chunk size with trailing space (body)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`,
  ],
  [
    'chunk data longer than its size (body)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n`,
  ],
  [
    'chunk lines ended by bare LF (body)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n${SMUGGLED}`,
  ],
  [
    'control character in a chunk extension (body)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n`,
  ],
  [
    'Content-Length in the trailer (body)',
    `POST /@ HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 10\r\n\r\n`,
  ],
  ['header lines ended by bare LF', `GET /@ HTTP/1.1\n${H.replace('\r', '')}\n`],
  ['bare CR inside the header block', `GET /@ HTTP/1.1\r\nHost: x\rX-Y: z\r\n\r\n`],
  ['NUL in a header value', `GET /@ HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`],
  ['pseudo-header :authority', `GET /@ HTTP/1.1\r\n${H}:authority: evil\r\n\r\n`],
  ['missing Host in HTTP/1.1', 'GET /@ HTTP/1.1\r\n\r\n'],
  ['two Host lines', `GET /@ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`],
  ['Host with a path', `GET /@ HTTP/1.1\r\nHost: x/evil\r\n\r\n`],
  ['Host with userinfo', `GET /@ HTTP/1.1\r\nHost: user@x\r\n\r\n`],
  ['Host with a space', `GET /@ HTTP/1.1\r\nHost: a b\r\n\r\n`],
  ['empty Host', `GET /@ HTTP/1.1\r\nHost: \r\n\r\n`],
];

describe('request smuggling and malformed framing', () => {
  let port = 0;
  const started: string[] = [];
  const completed: string[] = [];
  let upstreamOpen = 0;

  beforeAll(async () => {
    const up = await upstream();
    up.server.on('request', (req: IncomingMessage) => {
      started.push(req.url ?? '');
      upstreamOpen++;
      req.on('end', () => completed.push(req.url ?? ''));
      req.on('close', () => upstreamOpen--);
    });
    port = (await portico(`routes:\n  - name: all\n    upstream: ${up.url}\n`)).port;
  });

  // Each case has its own path, so a late arrival at the upstream is charged to the case that caused it.
  it.each(CORPUS.map(([name, payload], i) => [name, payload.replace('/@ ', `/case${i} `), `/case${i}`]))(
    '%s: 400, closed, nothing forwarded',
    async (name, payload, path) => {
      const res = await rawExchange(port, payload);
      expect(res.text).toMatch(/^HTTP\/1\.1 400 /);
      expect(res.text.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1); // no answer to a smuggled second request
      expect(res.closed).toBe(true);
      // A (wrongly) forwarded request was started before the 400: once every forward for this case and every
      // request the upstream took has closed, whatever was forwarded has landed.
      await waitFor(() => outgoingOpen(path) + outgoingOpen('/smuggled') + upstreamOpen === 0, {
        message: `the forwards of ${name} to settle`,
      });
      expect(completed.filter((url) => url === path || url === '/smuggled')).toEqual([]);
      // A body error is found only after the headers were accepted and streamed on; the upstream request is then
      // aborted, never completed. Any other case must not reach the upstream at all.
      if (!name.endsWith('(body)')) expect(started.filter((url) => url === path)).toEqual([]);
    },
  );

  it('control: a well-formed chunked request with an extension goes through, so the detector above can see', async () => {
    const res = await rawExchange(
      port,
      `POST /ok HTTP/1.1\r\n${H}Connection: close\r\nTransfer-Encoding: CHUNKED\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n`,
    );
    expect(res.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(completed).toEqual(['/ok']);
    expect([outgoingMade('/ok'), outgoingOpen('/ok')]).toEqual([1, 0]); // the forwards are seen, and settle
  });
});
