import type { Redis } from 'ioredis';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { rateLimitKind, storeErrorFallbacks } from '../../src/middleware/rate-limit/index.js';
import { rateLimitPolicySchema } from '../../src/middleware/rate-limit/policy.js';
import { compilePolicy, limiterSpec, localSpec, type CompiledPolicy } from '../../src/middleware/rate-limit/compile.js';
import { decide, stricter, type Verdict } from '../../src/middleware/rate-limit/decide.js';
import type { Decision, Limiter } from '../../src/middleware/rate-limit/limiter.js';
import { Episode } from '../../src/stores/episode.js';
import { memoryStores, type StoreClientName, type Stores } from '../../src/stores/stores.js';

const silent = pino({ level: 'silent' });
const policy = (fields: Record<string, unknown>) => rateLimitPolicySchema.parse({ limit: 10, window: '1m', ...fields });

function recordingStores(): Stores & { failures: unknown[]; successes: StoreClientName[] } {
  const failures: unknown[] = [];
  const successes: StoreClientName[] = [];
  return {
    ...memoryStores(),
    failures,
    successes,
    reportFailure: (_c, err) => failures.push(err),
    reportSuccess: (c) => successes.push(c),
  };
}

function compiled(fields: Partial<CompiledPolicy>): CompiledPolicy {
  const base = compilePolicy('p', policy({}), memoryStores(), silent);
  return { ...base, ...fields };
}

const failing: Limiter = { consume: () => Promise.reject(new Error('Redis connection is not ready')) };
const answering = (decision: Decision): Limiter => ({ consume: () => Promise.resolve(decision) });

describe('rate-limit policy schema', () => {
  test('windows are whole seconds (the Redis backend counts in EXPIRE seconds)', () => {
    expect(policy({ window: '90s' }).window).toBe(90_000);
    expect(() => policy({ window: '1500ms' })).toThrow(/whole number of seconds/);
    expect(() => policy({ window: '500ms' })).toThrow();
    expect(() => policy({ burst: 5, burstWindow: '2.5s' })).toThrow(/whole number of seconds/);
  });

  test('defaults: key ip, local fallback, legacy headers on, not shadow; burst refills over 10 windows', () => {
    const parsed = policy({});
    expect(parsed).toMatchObject({
      key: 'ip',
      onStoreError: 'local',
      localShare: 1,
      legacyHeaders: true,
      shadow: false,
      burst: 0,
    });
    expect(limiterSpec(policy({ burst: 5 })).burstWindowMs).toBe(600_000);
    expect(limiterSpec(policy({ burst: 5, burstWindow: '30s' })).burstWindowMs).toBe(30_000);
  });

  test('the local share enforces at least one unit', () => {
    expect(localSpec(limiterSpec(policy({ limit: 100, burst: 10 })), 0.25)).toMatchObject({ limit: 25, burst: 2 });
    expect(localSpec(limiterSpec(policy({ limit: 3 })), 0.1).limit).toBe(1);
  });
});

describe('rateLimit kind options and check', () => {
  const config = configSchema.parse({
    rateLimits: { 'per-client': { limit: 5, window: '1s' }, strict: { limit: 1, window: '1s' } },
  });

  test('a name or a list of names, deduplicated', () => {
    expect(rateLimitKind.options.parse('per-client')).toEqual(['per-client']);
    expect(rateLimitKind.options.parse(['strict', 'per-client', 'strict'])).toEqual(['strict', 'per-client']);
    expect(rateLimitKind.options.safeParse([]).success).toBe(false);
    expect(rateLimitKind.options.safeParse(undefined).success).toBe(false);
  });

  test('unknown policy names are a config error naming the defined ones', () => {
    expect(rateLimitKind.check?.(['per-client'], config)).toBeUndefined();
    expect(rateLimitKind.check?.(['per-clinet'], config)).toBe(
      'unknown rate-limit policy "per-clinet" (defined under rateLimits: per-client, strict)',
    );
    expect(rateLimitKind.check?.(['toString'], config)).toMatch(/unknown rate-limit policy "toString"/);
    expect(rateLimitKind.check?.(['x'], configSchema.parse({}))).toMatch(/rateLimits defines none/);
  });
});

describe('decide: denied is a value, failed is an error', () => {
  test('allowed and denied decisions from the store are verdicts; success is reported to store health', async () => {
    const stores = recordingStores();
    const allowed = await decide(
      compiled({ shared: true, limiter: answering({ allowed: true, remaining: 4, resetMs: 900 }) }),
      'k',
      stores,
    );
    expect(allowed).toMatchObject({ outcome: 'allowed', action: 'pass', remaining: 4, resetMs: 900 });
    const denied = await decide(
      compiled({ shared: true, limiter: answering({ allowed: false, remaining: 0, resetMs: 500 }) }),
      'k',
      stores,
    );
    expect(denied).toMatchObject({ outcome: 'limited', action: 'limit', remaining: 0 });
    expect(stores.successes).toEqual(['limit', 'limit']);
  });

  test('shadow policies count and report but never limit', async () => {
    const verdict = await decide(
      compiled({ shadow: true, limiter: answering({ allowed: false, remaining: 0, resetMs: 500 }) }),
      'k',
      memoryStores(),
    );
    expect(verdict).toMatchObject({ outcome: 'shadow_limited', action: 'pass', remaining: 0 });
  });

  test('store error with onStoreError allow: passes, counted as store_error_allow, reported to health', async () => {
    const stores = recordingStores();
    const verdict = await decide(compiled({ shared: true, limiter: failing, onStoreError: 'allow' }), 'k', stores);
    expect(verdict).toMatchObject({ outcome: 'store_error_allow', action: 'pass', remaining: undefined });
    expect(stores.failures).toHaveLength(1);
  });

  test('store error with onStoreError deny: 503, never a 429; shadow policies still pass', async () => {
    const deny = await decide(
      compiled({ shared: true, limiter: failing, onStoreError: 'deny' }),
      'k',
      recordingStores(),
    );
    expect(deny).toMatchObject({ outcome: 'store_error_deny', action: 'unavailable' });
    const shadow = await decide(
      compiled({ shared: true, limiter: failing, onStoreError: 'deny', shadow: true }),
      'k',
      recordingStores(),
    );
    expect(shadow).toMatchObject({ outcome: 'store_error_deny', action: 'pass' });
  });

  test('a store failing for some keys and answering for others logs failing, answering again, then one flapping notice', async () => {
    const lines: Array<{ msg: string; flaps?: number }> = [];
    const log = pino(
      { level: 'info' },
      { write: (text: string) => void lines.push(JSON.parse(text) as { msg: string }) },
    );
    // Keys on a lost cluster master fail, the others answer: requests alternate between the two.
    const limiter: Limiter = {
      consume: (key) =>
        key.startsWith('lost')
          ? Promise.reject(new Error('CLUSTERDOWN'))
          : Promise.resolve({ allowed: true, remaining: 9, resetMs: 1000 }),
    };
    const flapping = compiled({ shared: true, limiter, onStoreError: 'allow', log, episode: new Episode() });
    for (let i = 0; i < 100; i++) {
      await decide(flapping, `lost-${i}`, recordingStores());
      await decide(flapping, `fine-${i}`, recordingStores());
    }
    expect(lines.map((line) => line.msg.split(':')[0])).toEqual([
      'rate-limit store failing',
      'rate-limit store answering again',
      'rate-limit store flapping',
    ]);
    expect(lines[2]?.flaps).toBe(1);
  });

  test('store error with onStoreError local: the in-memory share decides', async () => {
    const fallback = answering({ allowed: false, remaining: 0, resetMs: 3000 });
    const verdict = await decide(
      compiled({ shared: true, limiter: failing, onStoreError: 'local', fallback }),
      'k',
      recordingStores(),
    );
    expect(verdict).toMatchObject({ outcome: 'store_error_local', action: 'limit', resetMs: 3000 });
  });
});

describe('stricter: the verdict whose headers are returned', () => {
  const p = compiled({});
  const v = (fields: Partial<Verdict>): Verdict => ({
    policy: p,
    outcome: 'allowed',
    action: 'pass',
    remaining: 5,
    resetMs: 1000,
    ...fields,
  });

  test('a rejection beats any pass, then fewer remaining, then the longer reset', () => {
    const limit = v({ action: 'limit', remaining: 0, resetMs: 100 });
    expect(stricter(v({ remaining: 0, resetMs: 9000 }), limit)).toBe(limit);
    const few = v({ remaining: 1 });
    expect(stricter(v({ remaining: 3 }), few)).toBe(few);
    const longer = v({ remaining: 1, resetMs: 5000 });
    expect(stricter(few, longer)).toBe(longer);
  });

  test('verdicts without a count never decide', () => {
    const counted = v({});
    expect(stricter(counted, v({ remaining: undefined }))).toBe(counted);
    expect(stricter(undefined, v({ remaining: undefined }))).toBeUndefined();
  });
});

describe('compilePolicy', () => {
  test('limiters are shared per stores and policy (global chains compile once per route), not per chain', () => {
    const stores = memoryStores();
    const config = policy({});
    expect(compilePolicy('p', config, stores, silent).limiter).toBe(compilePolicy('p', config, stores, silent).limiter);
    expect(compilePolicy('p', config, stores, silent).limiter).not.toBe(
      compilePolicy('p', config, memoryStores(), silent).limiter,
    );
    expect(compilePolicy('p', config, stores, silent).limiter).not.toBe(
      compilePolicy('p', policy({ limit: 11 }), stores, silent).limiter,
    );
  });

  test('a local fallback exists only on a shared store with onStoreError local', () => {
    expect(compilePolicy('p', policy({}), memoryStores(), silent).fallback).toBeUndefined();
    const fakeClient = { defineCommand: () => undefined, status: 'ready' } as unknown as Redis;
    const redisStores: Stores = { ...memoryStores(), kind: 'redis', limitClient: fakeClient };
    const local = compilePolicy('p', policy({ onStoreError: 'local', localShare: 0.5 }), redisStores, silent);
    expect(local.shared).toBe(true);
    expect(local.fallback).toBeDefined();
    expect(compilePolicy('p', policy({ onStoreError: 'deny' }), redisStores, silent).fallback).toBeUndefined();
  });

  test('header fragments are built once', () => {
    const compiledPolicy = compilePolicy(
      'per-key',
      policy({ key: ['ip', 'header:X-Api-Key'], limit: 7, window: '30s' }),
      memoryStores(),
      silent,
    );
    expect(compiledPolicy.member).toBe('"per-key";q=7;w=30');
    expect(compiledPolicy.quotedName).toBe('"per-key"');
    expect(compiledPolicy.missingKeyDetail).toBe('rate-limit policy "per-key" needs the X-Api-Key header');
  });
});

describe('storeErrorFallbacks', () => {
  test('names what each policy does while the store is degraded', () => {
    const config = configSchema.parse({
      rateLimits: {
        'per-client': { limit: 5, window: '1s', localShare: 0.5 },
        login: { limit: 1, window: '1s', onStoreError: 'deny' },
      },
    });
    expect(storeErrorFallbacks(config.rateLimits)).toBe('per-client: local (50%), login: deny');
    expect(storeErrorFallbacks({})).toBe('');
  });
});
