/**
 * The image's HEALTHCHECK (`node dist/admin/healthcheck.js`): GET /healthz on the admin address that
 * PORTICO_ADMIN names, in every form the config accepts (`host:port`, `:port`, `0.0.0.0:port`, `[::]:port`,
 * `[::1]:port`); a wildcard address is asked on loopback. Exit 0 on a 200, 1 otherwise, within TIMEOUT_MS (under
 * the HEALTHCHECK's own --timeout, so the reason is printed rather than the process killed).
 */
import { parseListen } from '../config/address.js';

const DEFAULT_ADMIN = '127.0.0.1:9901';
const TIMEOUT_MS = 2000;

/** The URL of /healthz for an admin listen address, or undefined when the address is not one. */
export function healthzUrl(admin: string): string | undefined {
  const parsed = parseListen(admin);
  if (parsed === undefined) return undefined;
  const host = parsed.host === '0.0.0.0' ? '127.0.0.1' : parsed.host === '::' ? '::1' : parsed.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${parsed.port}/healthz`;
}

export async function probe(): Promise<number> {
  const admin = process.env.PORTICO_ADMIN || DEFAULT_ADMIN;
  const url = healthzUrl(admin);
  if (url === undefined) {
    process.stderr.write(`PORTICO_ADMIN="${admin}" is not a listen address (host:port)\n`);
    return 1;
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (res.status === 200) return 0;
    process.stderr.write(`${url}: ${res.status}\n`);
  } catch (err) {
    process.stderr.write(`${url}: ${(err as Error).message}\n`);
  }
  return 1;
}

if (require.main === module) void probe().then((code) => process.exit(code));
