import type { IncomingMessage } from 'node:http';
import { clientIp, normalizeAddress } from '../../src/proxy/client-ip.js';
import { saneRequestId, setForwarded, stripHopByHop } from '../../src/proxy/headers.js';
import { toBlockList } from '../../src/config/schema.js';

function fakeRequest(remoteAddress: string, headers: Record<string, string>): IncomingMessage {
  return { socket: { remoteAddress }, headers: { ...headers } } as unknown as IncomingMessage;
}

describe('hop-by-hop headers', () => {
  it('removes the fixed set and every header named in Connection', () => {
    const headers: Record<string, string> = {
      connection: 'close, x-secret, Keep-Alive',
      'keep-alive': 'timeout=5',
      'x-secret': '1',
      te: 'trailers',
      trailer: 'x',
      upgrade: 'h2c',
      'proxy-authorization': 'Basic x',
      'proxy-connection': 'keep-alive',
      'x-kept': 'yes',
    };
    expect(stripHopByHop(headers)).toBe(true);
    expect(headers).toEqual({ 'x-kept': 'yes' });
  });

  it('blanks instead of deleting on an upstream response: the copy to the client skips undefined values', () => {
    const headers: Record<string, unknown> = {
      'content-type': 'text/plain',
      connection: 'keep-alive, X-Hop',
      'x-hop': '1',
      'keep-alive': 'timeout=5',
      'x-kept': 'yes',
    };
    expect(stripHopByHop(headers, { blank: true })).toBe(false);
    expect(Object.entries(headers).filter(([, value]) => value !== undefined)).toEqual([
      ['content-type', 'text/plain'],
      ['x-kept', 'yes'],
    ]);
    expect(Object.keys(headers)).toContain('keep-alive'); // blanked, not deleted (no dictionary-mode object)
  });

  it('cannot be used to nominate away the headers Portico sets', () => {
    const req = fakeRequest('203.0.113.9', {
      connection: 'close, X-Forwarded-For, X-Request-Id, X-Forwarded-Host',
      host: 'svc',
    });
    stripHopByHop(req.headers);
    setForwarded(req, {
      clientIp: '203.0.113.9',
      peer: '203.0.113.9',
      peerTrusted: false,
      requestId: 'rid-1',
      encrypted: false,
    });
    expect(req.headers['x-forwarded-for']).toBe('203.0.113.9');
    expect(req.headers['x-request-id']).toBe('rid-1');
    expect(req.headers['x-forwarded-host']).toBe('svc');
  });
});

describe('forwarded headers and client ip', () => {
  const trusted = toBlockList(['10.0.0.0/8', '127.0.0.1']);

  it('replaces forwarded headers from an untrusted peer', () => {
    const req = fakeRequest('203.0.113.9', {
      'x-forwarded-for': '1.2.3.4',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
      'x-forwarded-port': '443',
      'x-real-ip': '1.2.3.4',
      forwarded: 'for=1.2.3.4',
      host: 'svc:8080',
    });
    expect(clientIp(req, trusted)).toBe('203.0.113.9');
    setForwarded(req, {
      clientIp: '203.0.113.9',
      peer: '203.0.113.9',
      peerTrusted: false,
      requestId: 'r',
      encrypted: false,
    });
    expect(req.headers['x-forwarded-for']).toBe('203.0.113.9');
    expect(req.headers['x-forwarded-host']).toBe('svc:8080');
    expect(req.headers['x-forwarded-proto']).toBe('http');
    expect(
      Object.keys(req.headers).filter((name) => ['forwarded', 'x-forwarded-port', 'x-real-ip'].includes(name)),
    ).toEqual([]);
  });

  it('extends them from a trusted peer and takes the right-most untrusted hop as the client', () => {
    const req = fakeRequest('10.1.2.3', {
      'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.9.9.9',
      'x-forwarded-host': 'public.example',
      host: 'svc',
    });
    expect(clientIp(req, trusted)).toBe('198.51.100.7');
    setForwarded(req, {
      clientIp: '198.51.100.7',
      peer: '10.1.2.3',
      peerTrusted: true,
      requestId: 'r',
      encrypted: false,
    });
    expect(req.headers['x-forwarded-for']).toBe('6.6.6.6, 198.51.100.7, 10.9.9.9, 10.1.2.3');
    expect(req.headers['x-forwarded-host']).toBe('public.example');
  });

  it('never includes a port and folds IPv4-mapped IPv6', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(clientIp(fakeRequest('::ffff:203.0.113.9', {}), trusted)).toBe('203.0.113.9');
  });

  it('ignores garbage in X-Forwarded-For', () => {
    expect(clientIp(fakeRequest('127.0.0.1', { 'x-forwarded-for': 'not-an-ip' }), trusted)).toBe('127.0.0.1');
    expect(clientIp(fakeRequest('127.0.0.1', { 'x-forwarded-for': ' , ' }), trusted)).toBe('127.0.0.1');
  });

  it('keeps a sane client request id only', () => {
    expect(saneRequestId('abc-123')).toBe('abc-123');
    expect(saneRequestId('a'.repeat(129))).toBeUndefined();
    expect(saneRequestId('bad id\r\n')).toBeUndefined();
    expect(saneRequestId(['a', 'b'])).toBeUndefined();
  });
});
