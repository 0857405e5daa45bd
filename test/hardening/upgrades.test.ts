/**
 * WebSocket upgrades as an attacker uses them: handshakes the upstream never answers, clients that leave before the
 * answer, upgrade requests that carry a body, and enough of them to starve a route. Each must end within the route's
 * timeout, hold none of the pooled sockets ordinary requests need, and leave no socket behind on either side.
 */
import type http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';
import { WEBSOCKET_HANDSHAKE, request } from '../helpers/http.js';
import { acceptWebSockets } from '../helpers/upstream.js';
import { connections, portico, rawSocket, serverSection, settlesTo, stopAll, upstream, within } from './support.js';

afterEach(stopAll);

/**
 * An upstream whose 'upgrade' handler is `onUpgrade` (default: hold the socket and never answer). Like any real
 * server it closes its side when Portico closes its own.
 */
async function upgradeUpstream(onUpgrade?: (req: http.IncomingMessage, socket: net.Socket) => void) {
  const up = await upstream();
  const held: net.Socket[] = [];
  up.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
    socket.on('end', () => socket.end());
    onUpgrade?.(req, socket);
  });
  return { up, held };
}

/** Open TCP handles of this process (sockets, both directions), for a before/after count. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
}

describe('upgrade handshakes are bounded', () => {
  it('answers 504 problem+json on the raw socket when the upstream never answers the handshake, and closes both sides', async () => {
    const { up } = await upgradeUpstream();
    const p = await portico(`routes:\n  - name: ws\n    timeout: 300ms\n    upstream: ${up.url}\n`);
    const client = await rawSocket(p.port);
    const started = Date.now();
    client.socket.write(`GET /ws HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}\r\n`);
    expect(await within(client.closed, 3000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(client.text()).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(client.text()).toContain('application/problem+json');
    expect(client.text()).toContain('"code":"PORTICO_UPSTREAM_TIMEOUT"');
    await settlesTo(() => connections(up.server), 0, 'upstream connections');
    await settlesTo(() => connections(p.server()), 0, 'Portico connections');
  });

  it.each([
    ['closes (destroy)', 'destroy'],
    ['only half-closes (FIN)', 'end'],
  ] as const)(
    'aborts the upstream handshake as soon as the client %s, not at the route timeout',
    async (_how, leave) => {
      const { up, held } = await upgradeUpstream();
      const p = await portico(`routes:\n  - name: ws\n    timeout: 30s\n    upstream: ${up.url}\n`);
      const client = await rawSocket(p.port);
      client.socket.write(`GET /ws HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}\r\n`);
      await settlesTo(() => held.length, 1, 'handshake at the upstream');
      const gone = once(held[0] as net.Socket, 'close');
      if (leave === 'destroy') client.socket.destroy();
      else client.socket.end();
      expect(await within(gone, 2000)).toBe(true);
      expect(await within(client.closed, 2000)).toBe(true);
      await settlesTo(() => connections(p.server()), 0, 'Portico connections');
    },
  );

  it('keeps upgrades off the pooled sockets: 6 hanging handshakes leave a 2-socket pool free for ordinary requests', async () => {
    const { up, held } = await upgradeUpstream();
    const p = await portico(
      `${serverSection('  upstreamMaxSockets: 2\n')}routes:\n  - name: ws\n    timeout: 10s\n    upstream: ${up.url}\n`,
    );
    const clients = await Promise.all(Array.from({ length: 6 }, () => rawSocket(p.port)));
    for (const client of clients) client.socket.write(`GET /ws HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}\r\n`);
    await settlesTo(() => held.length, 6, 'handshakes at the upstream');
    const ordinary = request(`${p.portico.proxyUrl}/plain`);
    expect(await within(ordinary, 2000)).toBe(true);
    expect((await ordinary).status).toBe(200);
  });

  it('still passes a well-behaved upgrade through, with its early bytes after the 101', async () => {
    const up = await upstream();
    acceptWebSockets(up);
    const p = await portico(`routes:\n  - name: ws\n    timeout: 300ms\n    upstream: ${up.url}\n`);
    const client = await rawSocket(p.port);
    client.socket.write(`GET /ws HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}\r\nearly`);
    await settlesTo(() => /\r\n\r\nearly$/.test(client.text()), true, 'the 101 and the echoed early bytes');
    // Past the handshake the route timeout no longer applies: the connection lives on.
    client.socket.write('-later');
    await settlesTo(() => client.text().endsWith('early-later'), true, 'echo after the handshake');
    expect(client.text()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/i);
  });
});

describe('upgrade requests with a body', () => {
  it.each([
    ['Content-Length', 'Content-Length: 5\r\n\r\nhello'],
    ['chunked', 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ])('refuses one with %s with 400 problem+json before reaching the upstream', async (_name, rest) => {
    const { up, held } = await upgradeUpstream();
    const p = await portico(`routes:\n  - name: ws\n    upstream: ${up.url}\n`);
    const client = await rawSocket(p.port);
    client.socket.write(`GET /ws HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}${rest}`);
    expect(await within(client.closed, 2000)).toBe(true);
    expect(client.text()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(client.text()).toContain('"code":"PORTICO_BAD_REQUEST"');
    expect(held).toHaveLength(0);
    expect(up.received).toHaveLength(0);
  });
});

describe('every upgrade exchange releases its sockets', () => {
  /** 20 clients send `payload`, half-close at once, and the upstream answers 404 only after each client left. */
  async function leaveThenRefuse(payload: string) {
    const clientsGone: Array<Promise<unknown>> = [];
    const { up } = await upgradeUpstream((_req, socket) => {
      const answer = (): void => {
        if (!socket.destroyed)
          socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found');
      };
      void Promise.all(clientsGone).then(answer, answer);
    });
    const p = await portico(`routes:\n  - name: ws\n    timeout: 10s\n    upstream: ${up.url}\n`);
    const baseline = tcpHandles();
    const clients = await Promise.all(Array.from({ length: 20 }, () => rawSocket(p.port)));
    for (const client of clients) {
      client.socket.write(payload);
      client.socket.end();
      clientsGone.push(once(client.socket, 'finish'));
    }
    await Promise.all(clientsGone);
    await settlesTo(() => connections(p.server()), 0, 'Portico connections', 5000);
    await settlesTo(() => connections(up.server), 0, 'upstream connections', 5000);
    for (const client of clients) client.socket.destroy();
    await settlesTo(tcpHandles, baseline, 'open TCP handles back to the baseline', 5000);
  }

  it('when the upgrade request carried body bytes', async () => {
    await leaveThenRefuse(`GET /ws HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}Content-Length: 5\r\n\r\nhello`);
  });

  it('when the client sent bytes ahead of the 101', async () => {
    await leaveThenRefuse(`GET /ws HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}\r\nearly frame bytes`);
  });
});
