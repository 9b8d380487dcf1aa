"""The job state changes that must be atomic, as Redis Lua scripts.

A job moves between the queue list and the registries while workers, the
scheduler and web requests act on it at the same time; each move below runs as
one script so no one ever sees (or acts on) a half-moved job.

Every delivery of a job to Celery carries the job's `attempt` number. A worker
runs a job only if the message's attempt is the job's current one, and it
records an outcome only for the attempt it ran: stale messages (a redelivered
message after a retry or requeue, say) are acknowledged and skipped.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from .keys import JOB_PREFIX, QUEUE_PREFIX, QUEUES_KEY, REGISTRY_PREFIXES

_PREAMBLE = f"""
local JOB, QUEUE, QUEUES = '{JOB_PREFIX}', '{QUEUE_PREFIX}', '{QUEUES_KEY}'
local WIP, FINISHED, FAILED = '{REGISTRY_PREFIXES["started"]}', '{REGISTRY_PREFIXES["finished"]}', \
'{REGISTRY_PREFIXES["failed"]}'
local DEFERRED, SCHEDULED, CANCELED = '{REGISTRY_PREFIXES["deferred"]}', '{REGISTRY_PREFIXES["scheduled"]}', \
'{REGISTRY_PREFIXES["canceled"]}'

local function push(origin, id, at_front)
  if at_front == '1' then
    redis.call('LPUSH', QUEUE .. origin, id)
  else
    redis.call('RPUSH', QUEUE .. origin, id)
  end
  redis.call('SADD', QUEUES, QUEUE .. origin)
end

-- Queue a job (again): a new delivery, so a new attempt number. As in RQ, a
-- job's ttl counts from each time it is queued.
local function enqueue(id, origin, at_front, now_iso)
  local job = JOB .. id
  redis.call('HSET', job, 'status', 'queued', 'enqueued_at', now_iso)
  redis.call('HINCRBY', job, 'attempt', 1)
  local ttl = redis.call('HGET', job, 'ttl')
  if ttl then
    redis.call('EXPIRE', job, ttl)
  end
  push(origin, id, at_front)
end

local function unregister(id, origin)
  redis.call('LREM', QUEUE .. origin, 0, id)
  for _, prefix in ipairs({{WIP, FINISHED, FAILED, DEFERRED, SCHEDULED, CANCELED}}) do
    redis.call('ZREM', prefix .. origin, id)
  end
end

-- Keep a finished or failed job for ttl seconds (0: delete it now, negative: forever).
local function keep(id, registry, ttl, now)
  local job = JOB .. id
  if ttl == 0 then
    redis.call('DEL', job)
  elseif ttl > 0 then
    redis.call('EXPIRE', job, ttl)
    redis.call('ZADD', registry, now + ttl, id)
  else
    redis.call('PERSIST', job)
    redis.call('ZADD', registry, '+inf', id)
  end
end

-- The job is started by the delivery with this attempt number (else a stale run).
local function started_by(id, attempt)
  local state = redis.call('HMGET', JOB .. id, 'status', 'attempt', 'origin')
  if state[1] == 'started' and state[2] == attempt then
    return state[3]
  end
  return false
end

-- Queue the deferred dependents of a finished job whose other dependencies are done too.
local function release_dependents(parent, now_iso)
  local released = {{}}
  local set = JOB .. parent .. ':dependents'
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    local state = redis.call('HMGET', JOB .. id, 'status', 'origin', 'dependency_ids', 'enqueue_at_front')
    if state[1] == 'deferred' then
      local met = true
      for _, other in ipairs(cjson.decode(state[3] or '[]')) do
        if other ~= parent then
          local status = redis.call('HGET', JOB .. other, 'status')
          -- A dependency that no longer exists finished with result_ttl=0 or expired.
          if status and status ~= 'finished' then
            met = false
            break
          end
        end
      end
      if met then
        redis.call('ZREM', DEFERRED .. state[2], id)
        enqueue(id, state[2], state[4], now_iso)
        table.insert(released, id)
      end
    end
  end
  redis.call('DEL', set)
  return released
end

-- Write a new job and queue it, or defer it while one of its dependencies is
-- unfinished. The fields travel as one JSON argument: packing one argument
-- costs the client far less than packing twenty, and decoding them here is cheap.
-- Returns -1 (unique and the id exists), 0 (deferred) or 1 (queued: publish it).
local function store(id, origin, now, now_iso, at_front, unique, fields_json, dependencies)
  local job = JOB .. id
  if unique == '1' and redis.call('EXISTS', job) == 1 then
    return -1
  end
  local fields = {{}}
  for name, value in pairs(cjson.decode(fields_json)) do
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
  redis.call('DEL', job)
  redis.call('HSET', job, unpack(fields))
  redis.call('SADD', QUEUES, QUEUE .. origin)
  local waiting = 0
  for _, dependency in ipairs(dependencies) do
    local status = redis.call('HGET', JOB .. dependency, 'status')
    if status and status ~= 'finished' then
      redis.call('SADD', JOB .. dependency .. ':dependents', id)
      waiting = waiting + 1
    end
  end
  if waiting > 0 then
    redis.call('HSET', job, 'status', 'deferred', 'attempt', 0)
    redis.call('ZADD', DEFERRED .. origin, now, id)
    local ttl = redis.call('HGET', job, 'ttl')
    if ttl then
      redis.call('EXPIRE', job, ttl)
    end
    return 0
  end
  redis.call('HSET', job, 'status', 'queued', 'attempt', 0)
  enqueue(id, origin, at_front, now_iso)
  return 1
end
"""


def _script(body: str) -> Script:
    # Bytes, so redis-py needs no client to hash it; any connection can run it.
    return Script(None, (_PREAMBLE + body).encode())


class PendingCall:
    """A script call sent to Redis now, its answer read later: the caller works while Redis does."""

    def __init__(self, script: Script, client: Redis, args: list[Any]):
        self.script = script
        self.args = args
        self.pool = client.connection_pool
        self.connection = self.pool.get_connection()
        self._ask("EVALSHA", script.sha)

    def _ask(self, command: str, script: str | bytes) -> None:
        try:
            self.connection.send_command(command, script, 0, *self.args)
        except BaseException:
            self._close(broken=True)
            raise

    def answer(self) -> Any:
        """Wait for the script's answer (raising its error, if any) and give the connection back."""
        try:
            try:
                answer = self.connection.read_response()
            except NoScriptError:  # a Redis that has not seen the script yet (or was restarted)
                self._ask("EVAL", self.script.script)
                answer = self.connection.read_response()
        except BaseException:
            self._close(broken=True)
            raise
        self._close(broken=False)
        return answer

    def _close(self, broken: bool) -> None:
        if broken:
            self.connection.disconnect()
        self.pool.release(self.connection)


# ARGV: id, origin, now, now_iso, at_front, unique, fields (a JSON object of strings), dependency ids...
# Returns -1 (duplicate id), 0 (deferred) or 1 (queued: publish it).
ENQUEUE = _script("""
local dependencies = {}
for i = 8, #ARGV do
  dependencies[#dependencies + 1] = ARGV[i]
end
return store(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], dependencies)
""")

# ARGV: origin, now, now_iso, then per job: id, at_front, fields. For enqueue_many's jobs
# without dependencies: one command for all of them instead of one each.
ENQUEUE_MANY = _script("""
local answers = {}
for i = 4, #ARGV, 3 do
  answers[#answers + 1] = store(ARGV[i], ARGV[1], ARGV[2], ARGV[3], ARGV[i + 1], '0', ARGV[i + 2], {})
end
return answers
""")

# ARGV: id, attempt, started_at, worker_name, deadline. Returns the job's hash, or nil to skip the message.
CLAIM = _script("""
local id, attempt = ARGV[1], ARGV[2]
local job = JOB .. id
local state = redis.call('HMGET', job, 'status', 'attempt', 'origin')
if not state[1] or state[2] ~= attempt then
  return false
end
if state[1] == 'queued' then
  -- Not in the list any more: removed from the queue (Queue.remove, empty) before it ran.
  if redis.call('LREM', QUEUE .. state[3], 1, id) == 0 then
    return false
  end
elseif state[1] ~= 'started' then
  -- 'started' again means the broker redelivered it after its worker died: run it again.
  return false
end
redis.call('HSET', job, 'status', 'started', 'started_at', ARGV[3], 'worker_name', ARGV[4])
redis.call('PERSIST', job)
redis.call('ZADD', WIP .. state[3], ARGV[5], id)
return redis.call('HGETALL', job)
""")

# ARGV: id, attempt, result, ended_at, result_ttl, now. Returns the ids of released dependents.
FINISH = _script("""
local id = ARGV[1]
local origin = started_by(id, ARGV[2])
if not origin then
  return {}
end
redis.call('HSET', JOB .. id, 'status', 'finished', 'result', ARGV[3], 'ended_at', ARGV[4])
redis.call('HDEL', JOB .. id, 'exc_info')
redis.call('ZREM', WIP .. origin, id)
local released = release_dependents(id, ARGV[4])
keep(id, FINISHED .. origin, tonumber(ARGV[5]), tonumber(ARGV[6]))
return released
""")

# ARGV: id, attempt, status ('failed' or 'stopped'), exc_info, ended_at, failure_ttl, now. Returns 1 if recorded.
FAIL = _script("""
local id = ARGV[1]
local origin = started_by(id, ARGV[2])
if not origin then
  return 0
end
redis.call('HSET', JOB .. id, 'status', ARGV[3], 'exc_info', ARGV[4], 'ended_at', ARGV[5])
redis.call('ZREM', WIP .. origin, id)
keep(id, FAILED .. origin, tonumber(ARGV[6]), tonumber(ARGV[7]))
return 1
""")

# ARGV: id, attempt, exc_info, ended_at, retries_left, due ('' = now), now_iso.
# Returns the new attempt number when queued again, -1 when scheduled, 0 when not recorded.
RETRY = _script("""
local id = ARGV[1]
local origin = started_by(id, ARGV[2])
if not origin then
  return 0
end
local job = JOB .. id
redis.call('HSET', job, 'exc_info', ARGV[3], 'ended_at', ARGV[4], 'retries_left', ARGV[5])
redis.call('ZREM', WIP .. origin, id)
if ARGV[6] ~= '' then
  redis.call('HSET', job, 'status', 'scheduled')
  redis.call('ZADD', SCHEDULED .. origin, ARGV[6], id)
  return -1
end
enqueue(id, origin, redis.call('HGET', job, 'enqueue_at_front'), ARGV[7])
return tonumber(redis.call('HGET', job, 'attempt'))
""")

# ARGV: queue name, now, now_iso, limit. Moves due scheduled jobs to the queue; returns their ids.
ENQUEUE_DUE = _script("""
local origin = ARGV[1]
local registry = SCHEDULED .. origin
local moved = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', registry, '-inf', ARGV[2], 'LIMIT', 0, ARGV[4])) do
  redis.call('ZREM', registry, id)
  local state = redis.call('HMGET', JOB .. id, 'status', 'enqueue_at_front')
  if state[1] == 'scheduled' then
    enqueue(id, origin, state[2], ARGV[3])
    table.insert(moved, id)
  end
end
return moved
""")

# ARGV: id, now[, attempt]. Returns -1 (no such job, or another delivery's), 0 (already canceled) or 1.
CANCEL = _script("""
local id = ARGV[1]
local state = redis.call('HMGET', JOB .. id, 'status', 'origin', 'attempt')
if not state[1] or (ARGV[3] and ARGV[3] ~= state[3]) then
  return -1
end
if state[1] == 'canceled' then
  return 0
end
unregister(id, state[2])
redis.call('HSET', JOB .. id, 'status', 'canceled')
redis.call('ZADD', CANCELED .. state[2], ARGV[2], id)
return 1
""")

# ARGV: id, now_iso, at_front. Returns the new attempt, -1 (not in the failed registry) or -2 (no such job).
REQUEUE = _script("""
local id = ARGV[1]
local job = JOB .. id
local origin = redis.call('HGET', job, 'origin')
if not origin then
  return -2
end
if redis.call('ZREM', FAILED .. origin, id) == 0 then
  return -1
end
redis.call('HDEL', job, 'started_at', 'ended_at', 'exc_info', 'result', 'worker_name')
redis.call('PERSIST', job)
enqueue(id, origin, ARGV[3], ARGV[2])
return tonumber(redis.call('HGET', job, 'attempt'))
""")

# ARGV: id. Removes the job from its queue and every registry, then deletes it.
DELETE = _script("""
local id = ARGV[1]
local origin = redis.call('HGET', JOB .. id, 'origin')
if origin then
  unregister(id, origin)
end
redis.call('DEL', JOB .. id, JOB .. id .. ':dependents')
""")

# ARGV: queue name. Deletes every queued job of the queue; returns how many.
EMPTY = _script("""
local key = QUEUE .. ARGV[1]
local count = 0
local id = redis.call('LPOP', key)
while id do
  redis.call('DEL', JOB .. id, JOB .. id .. ':dependents')
  count = count + 1
  id = redis.call('LPOP', key)
end
return count
""")

# ARGV: id, meta. Writes meta only while the job exists (a deleted job stays deleted).
SAVE_META = _script("""
if redis.call('EXISTS', JOB .. ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', JOB .. ARGV[1], 'meta', ARGV[2])
return 1
""")
