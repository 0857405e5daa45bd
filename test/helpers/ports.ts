/** Loopback ports for tests. */
import { once } from 'node:events';
import net from 'node:net';

/**
 * A port with nothing listening on it: bound on 127.0.0.1 by the kernel's choice, then released. Another process
 * may take it in between, which on loopback in a test run is rare enough; a test that starts a server on it fails
 * loudly (EADDRINUSE) rather than silently.
 */
export async function sparePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
