/**
 * The image's HEALTHCHECK script against a real admin-like server: it finds the port in the `:port` and
 * `host:port` forms of PORTICO_ADMIN, and fails on a non-200 answer and on a closed port.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { probe } from '../../src/admin/healthcheck.js';
import { closedPort } from '../helpers/upstream.js';

let server: http.Server;
let port: number;
let status = 200;
const saved = process.env.PORTICO_ADMIN;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? status : 404;
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.close();
  process.env.PORTICO_ADMIN = saved;
});

async function probeWith(admin: string): Promise<number> {
  process.env.PORTICO_ADMIN = admin;
  const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return await probe();
  } finally {
    write.mockRestore();
  }
}

test('healthy on /healthz 200, whether PORTICO_ADMIN is :port or host:port', async () => {
  status = 200;
  expect(await probeWith(`:${port}`)).toBe(0);
  expect(await probeWith(`127.0.0.1:${port}`)).toBe(0);
  expect(await probeWith(`0.0.0.0:${port}`)).toBe(0);
});

test('unhealthy on another status, a closed port, or an address that is not one', async () => {
  status = 503;
  expect(await probeWith(`:${port}`)).toBe(1);
  status = 200;
  expect(await probeWith(`127.0.0.1:${await closedPort()}`)).toBe(1);
  expect(await probeWith('nonsense')).toBe(1);
});
