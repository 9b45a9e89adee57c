-- lanes: helpers shared by the delivery scripts.
--
-- A lane is one target's queue within one incident and channel: a field of
-- the lanes hash (target key -> value). The value lists the update ids whose
-- delivery to that target is not final yet, oldest first, space-separated.
-- The first is the delivery in flight; while a job sends it, it carries that
-- job's lease: `updateId|owner|untilMs`.
--
-- A delivery record (a field of the update's deliveries hash, target key ->
-- value) is `<state>|<next>|<details>`: state one letter (q queued, f failed,
-- s sent, d dead), next the update id its lane released when it was popped
-- ('' for none), details JSON that only Herald's code reads.

-- The head token of a lane, its lease (owner, until ms; nil without one) and
-- the rest of the lane (the waiting tokens, each after a space).
local function laneHead(lane)
  local head, rest = string.match(lane, '^(%S+)(.*)$')
  local token, owner, untilMs = string.match(head, '^([^|]+)|([^|]*)|(%d+)$')
  if token then return token, owner, tonumber(untilMs), rest end
  return head, nil, nil, rest
end

-- A record's state letter and its recorded successor; nil when the value is
-- not a record.
local function recordState(value)
  local state, nextToken = string.match(value, '^([qfsd])|([^|]*)|')
  return state, nextToken
end

-- The name of a state letter, as the totals' fields spell it.
local STATE_NAMES = { q = 'queued', f = 'failed', s = 'sent', d = 'dead' }

local function isFinal(state)
  return state == 's' or state == 'd'
end

-- Pops `token` off the head of `target`'s lane; returns the token released
-- to be sent next ('' when none). A lane whose head is another token is left
-- alone (the delivery was popped before, or never reached the head).
local function popLane(lanes, target, token)
  local lane = redis.call('HGET', lanes, target)
  if not lane then return '' end
  local head, _, _, rest = laneHead(lane)
  if head ~= token then return '' end
  local nextToken = string.match(rest, '^%s*(%S+)')
  if nextToken then
    redis.call('HSET', lanes, target, string.sub(rest, 2))
    return nextToken
  end
  redis.call('HDEL', lanes, target)
  return ''
end

-- Gives back the lease `owner` holds on `token`, the head of `target`'s lane;
-- a lease another job took since is left alone. Returns whether it gave one back.
local function releaseLease(lanes, target, token, owner)
  local lane = redis.call('HGET', lanes, target)
  if not lane then return false end
  local head, holder, _, rest = laneHead(lane)
  if head ~= token or holder ~= owner then return false end
  redis.call('HSET', lanes, target, token .. rest)
  return true
end

-- The record `value` with its successor set to `nextToken`.
local function withNext(value, nextToken)
  local state, rest = string.match(value, '^([qfsd])|[^|]*|(.*)$')
  return state .. '|' .. nextToken .. '|' .. rest
end
