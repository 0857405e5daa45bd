/**
 * The Lua scripts of the Redis task store. Each touches only keys of one route, which share the route's hash tag
 * (`<prefix>{<route>}:…`), so each runs atomically on one node of a Cluster too. Every script is one step of a
 * task's life: nothing is half-done if the connection drops (a script runs whole or not at all).
 */

/** Lua keeps 8000 stack slots for unpack(): far above the task's field count. */
export const SCRIPTS = {
  /**
   * KEYS: stream, task hash, idempotency key. ARGV: id, retention ms, trim cutoff id, has key (0|1), then the hash
   * fields. Returns {id, duplicate (0|1)}. The task is queued by the XADD: the reply comes after it.
   */
  taskAccept: {
    numberOfKeys: 3,
    lua: `
if ARGV[4] == '1' then
  local known = redis.call('GET', KEYS[3])
  if known then return {known, 1} end
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
end
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[3], '*', 'id', ARGV[1])
return {ARGV[1], 0}`,
  },
  /**
   * KEYS: stream, task hash. ARGV: group, entry id, now. Marks the task running and counts the attempt; returns
   * its fields, or nil (and acknowledges the entry) when the task is gone or already finished.
   */
  taskBegin: {
    numberOfKeys: 2,
    lua: `
local status = redis.call('HGET', KEYS[2], 'status')
if (not status) or status == 'succeeded' or status == 'failed' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  return false
end
redis.call('HSET', KEYS[2], 'status', 'running', 'updatedAt', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
return redis.call('HGETALL', KEYS[2])`,
  },
  /**
   * KEYS: stream, task hash, delayed set, dead stream. ARGV: group, entry id, now, kind, status, error, due at,
   * task id, retention ms, trim cutoff id. Acknowledges the entry and records the outcome.
   */
  taskFinish: {
    numberOfKeys: 4,
    lua: `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'lastStatus', ARGV[5], 'lastError', ARGV[6], 'updatedAt', ARGV[3])
if ARGV[4] == 'retry' then
  redis.call('HSET', KEYS[2], 'status', 'queued')
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[8])
elseif ARGV[4] == 'succeeded' then
  redis.call('HSET', KEYS[2], 'status', 'succeeded')
  redis.call('HDEL', KEYS[2], 'body', 'headers')
  redis.call('PEXPIRE', KEYS[2], ARGV[9])
else
  local entry = redis.call('XADD', KEYS[4], 'MINID', '~', ARGV[10], '*', 'id', ARGV[8])
  redis.call('HSET', KEYS[2], 'status', 'failed', 'dead', entry)
  redis.call('PEXPIRE', KEYS[2], ARGV[9])
end
return 1`,
  },
  /** KEYS: delayed set, stream. ARGV: now, at most, trim cutoff id. Moves due retries back into the stream. */
  taskPromote: {
    numberOfKeys: 2,
    lua: `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[3], '*', 'id', id)
end
return #due`,
  },
  /** KEYS: dead stream, task hash, stream. ARGV: now, retention ms, task id, trim cutoff id. */
  taskRetryDead: {
    numberOfKeys: 3,
    lua: `
local entry = redis.call('HGET', KEYS[2], 'dead')
if (not entry) or redis.call('HGET', KEYS[2], 'status') ~= 'failed' then return 0 end
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[2], 'dead')
redis.call('HSET', KEYS[2], 'status', 'queued', 'attempts', 0, 'updatedAt', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[4], '*', 'id', ARGV[3])
return 1`,
  },
  /** KEYS: dead stream, task hash. */
  taskDeleteDead: {
    numberOfKeys: 2,
    lua: `
local entry = redis.call('HGET', KEYS[2], 'dead')
if (not entry) or redis.call('HGET', KEYS[2], 'status') ~= 'failed' then return 0 end
redis.call('XDEL', KEYS[1], entry)
redis.call('DEL', KEYS[2])
return 1`,
  },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
