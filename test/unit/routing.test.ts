import { compileRules, matchRoute, pathMatches, stripPrefix } from '../../src/plan/match.js';
import { safePath } from '../../src/proxy/path.js';

describe('route matching', () => {
  const rules = compileRules([
    { rule: { pathPrefix: '/' }, value: 'catch-all' },
    { rule: { pathPrefix: '/api' }, value: 'api' },
    { rule: { pathPrefix: '/api/orders', methods: ['GET', 'POST'] }, value: 'orders' },
    { rule: { pathPrefix: '/api/orders' }, value: 'orders-any' },
    { rule: { host: 'Admin.Example.com', pathPrefix: '/' }, value: 'admin-host' },
    { rule: { host: 'ports.example.com:8443', pathPrefix: '/' }, value: 'port-host' },
    { rule: { pathPrefix: '/only-get', methods: ['GET'] }, value: 'only-get' },
  ]);
  const route = (method: string, host: string | undefined, path: string) => {
    const found = matchRoute(rules, method, host, path);
    return found.kind === 'match' ? found.value : found.kind;
  };

  it('is segment-aware: /api does not match /apix', () => {
    expect(route('GET', 'x', '/api')).toBe('api');
    expect(route('GET', 'x', '/api/')).toBe('api');
    expect(route('GET', 'x', '/api/x')).toBe('api');
    expect(route('GET', 'x', '/apix')).toBe('catch-all');
    expect(pathMatches('/api', '/apix')).toBe(false);
  });

  it('prefers the longest prefix, then a route naming the method', () => {
    expect(route('GET', 'x', '/api/orders/1')).toBe('orders');
    expect(route('DELETE', 'x', '/api/orders/1')).toBe('orders-any');
  });

  it('matches hosts case-insensitively and ignores the port unless the rule names one', () => {
    expect(route('GET', 'admin.example.COM', '/api')).toBe('admin-host');
    expect(route('GET', 'admin.example.com:8080', '/api')).toBe('admin-host');
    expect(route('GET', 'ports.example.com:8443', '/')).toBe('port-host');
    expect(route('GET', 'ports.example.com:9000', '/')).toBe('catch-all');
  });

  it('tells a method mismatch (405 with Allow) from no match', () => {
    const onlyGet = compileRules([{ rule: { pathPrefix: '/x', methods: ['GET'] }, value: 1 }]);
    expect(matchRoute(onlyGet, 'POST', undefined, '/x')).toEqual({ kind: 'method', allow: ['GET'] });
    expect(matchRoute(onlyGet, 'GET', undefined, '/y')).toEqual({ kind: 'none' });
  });

  it('strips a prefix keeping the query', () => {
    expect(stripPrefix('/api/orders/1?x=1', '/api/orders')).toBe('/1?x=1');
    expect(stripPrefix('/api/orders?x=1', '/api/orders')).toBe('/?x=1');
    expect(stripPrefix('/api/orders', '/api/orders')).toBe('/');
  });
});

describe('request target checks', () => {
  it.each([
    ['/a/../b'],
    ['/a/%2e%2e/b'],
    ['/a/%2E./b'],
    ['/a/./b'],
    ['/..'],
    ['/a\\b'],
    ['/a%2fb'],
    ['/a%5Cb'],
    ['/a%00b'],
    ['/a%252e%252e/b'],
    ['http://evil.example/'],
    ['*'],
    ['//double'],
  ])('refuses %s', (url) => {
    expect(safePath(url)).toBeUndefined();
  });

  it.each([
    ['/a/b?x=../y', '/a/b'],
    ['/a..b/c', '/a..b/c'],
    ['/.well-known/x', '/.well-known/x'],
  ])('accepts %s', (url, path) => {
    expect(safePath(url)).toBe(path);
  });
});
