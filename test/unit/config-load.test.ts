import { fixtureError as errorOf, loadInline as load } from '../helpers/config.js';

describe('invalid config files are refused with file, line, column and key path', () => {
  const table: Array<[string, string]> = [
    [
      'syntax-error.yaml',
      'syntax-error.yaml:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    ['wrong-type.yaml', 'wrong-type.yaml:2:8: workerPool.max: Invalid input: expected number, received string'],
    [
      'unknown-key.yaml',
      'unknown-key.yaml:3:5: routes[0].upstreem: unknown key "upstreem" (did you mean "upstream"?)\nunknown-key.yaml:2:5: routes[0]: missing required key "upstream"',
    ],
    [
      'bad-duration.yaml',
      'bad-duration.yaml:4:14: routes[0].timeout: invalid duration "15 seconds" (use e.g. 250ms, 15s, 1m, 1h)',
    ],
    ['bad-url.yaml', 'bad-url.yaml:3:15: routes[0].upstream: invalid URL "not a url"'],
    [
      'bad-scheme.yaml',
      'bad-scheme.yaml:3:15: routes[0].upstream: unsupported URL scheme "ftp:" in "ftp://127.0.0.1:1" (use http or https)',
    ],
    [
      'duplicate-route.yaml',
      'duplicate-route.yaml:4:11: routes[1].name: duplicate route name "a" (first used by routes[0])',
    ],
    [
      'alias-bomb.yaml',
      'alias-bomb.yaml:1:1: cannot build the document: Excessive alias count indicates a resource exhaustion attack',
    ],
    ['empty.yaml', 'empty.yaml:1:1: the file is empty'],
    ['duplicate-key.yaml', 'duplicate-key.yaml:3:3: Map keys must be unique'],
    ['custom-tag.yaml', 'custom-tag.yaml:3:15: Unresolved tag: tag:yaml.org,2002:js/function'],
    ['proto-key.yaml', 'proto-key.yaml:1:1: key "__proto__" is not allowed'],
    [
      'missing-env.yaml',
      'missing-env.yaml:2:8: environment variable PORTICO_TEST_UNSET_VARIABLE is not set and has no default',
    ],
    ['unknown-middleware.yaml', 'unknown-middleware.yaml:1:14: middleware[0]: unknown middleware kind "loging"'],
    [
      'bad-method.yaml',
      'bad-method.yaml:3:29: routes[0].match.methods[1]: Invalid option: expected one of "GET"|"HEAD"|"POST"|"PUT"|"PATCH"|"DELETE"|"OPTIONS"|"TRACE"|"CONNECT"',
    ],
    [
      'admin-without-token.yaml',
      'admin-without-token.yaml:2:10: server.admin: admin binds beyond loopback: set server.adminToken (at least 16 characters)',
    ],
    ['top-level-list.yaml', 'top-level-list.yaml:1:1: the top level must be a map of sections'],
    [
      'bad-cidr.yaml',
      'bad-cidr.yaml:2:20: server.trustedProxies[0]: must be an IP address or CIDR range, e.g. 10.0.0.0/8',
    ],
    [
      'unknown-exclude.yaml',
      'unknown-exclude.yaml:4:25: routes[0].excludeMiddleware[0]: unknown middleware kind "logging2"',
    ],
  ];

  it.each(table)('%s', (file, expected) => {
    const message = errorOf(file);
    if (file === 'unknown-middleware.yaml') expect(message.startsWith(expected)).toBe(true);
    else expect(message).toBe(expected);
  });
});

describe('valid config', () => {
  it('fills defaults in one place and freezes the result', () => {
    const config = load('routes:\n  - name: a\n    upstream: http://127.0.0.1:3000\n');
    expect(config.server.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.server.admin).toEqual({ host: '127.0.0.1', port: 9901 });
    expect(config.routes[0]?.timeout).toBe(15_000);
    expect(config.routes[0]?.upstream[0]?.href).toBe('http://127.0.0.1:3000/');
    expect(Object.isFrozen(config.routes[0])).toBe(true);
    expect(() => {
      (config.server as { drainTimeout: number }).drainTimeout = 1;
    }).toThrow(TypeError);
  });

  it('interpolates ${VAR} and ${VAR:-default}, typing whole plain references', () => {
    const text =
      'server:\n  listen: ${LISTEN:-127.0.0.1:0}\nworkerPool:\n  max: ${MAX:-8}\nrateLimits:\n  p:\n    limit: ${LIMIT}\n    window: 1m\nredis:\n  url: "${REDIS:-}"\n';
    const config = load(text, { LIMIT: '42' });
    expect(config.server.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.workerPool.max).toBe(8);
    expect(config.rateLimits.p?.limit).toBe(42);
    expect(config.redis.url).toBe('');
  });

  it('cannot change the document structure through a variable', () => {
    const config = load('redis:\n  url: ${EVIL}\n', { EVIL: 'x\nrateLimits: {}' });
    expect(config.redis.url).toBe('x\nrateLimits: {}');
  });

  it('accepts a list of upstreams for round robin', () => {
    const config = load('routes:\n  - name: a\n    upstream: [http://127.0.0.1:1, http://127.0.0.1:2]\n');
    expect(config.routes[0]?.upstream.map((u) => u.port)).toEqual(['1', '2']);
  });

  it('reports every problem of a file at once', () => {
    expect(() => load('routes:\n  - name: a\n    upstream: nope\n    timeout: soon\n')).toThrow(
      /upstream: invalid URL "nope"\n.*timeout: invalid duration "soon"/,
    );
  });
});
