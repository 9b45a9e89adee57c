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
--
-- The scripts work a whole batch of targets (distinct target keys) with a
-- few Redis calls: one HMGET per hash reads what they need, Lua decides, and
-- one HSET and one HDEL per hash write what changed (see `newWrites`). This
-- work runs once per delivery and step, so it is written for Redis's CPU:
-- plain `string.find` and `string.byte` rather than patterns, and the
-- common lane — one update, no lease — is recognised by comparing strings.

local find, sub, byte = string.find, string.sub, string.byte

-- Lua's stack bounds how many values `unpack` may spread into one call:
-- longer batches are read and written this many fields a call.
local FIELDS_PER_CALL = 1000

-- Runs `command key args…` in calls of at most `perCall` args each (none
-- for no args); answers the calls' array replies joined, in order (one
-- call's reply as it is).
local function callInParts(command, key, args, perCall)
  if #args == 0 then return {} end
  if #args <= perCall then return redis.call(command, key, unpack(args)) end
  local replies = {}
  for from = 1, #args, perCall do
    local reply = redis.call(command, key, unpack(args, from, math.min(from + perCall - 1, #args)))
    if type(reply) == 'table' then
      for _, value in ipairs(reply) do replies[#replies + 1] = value end
    end
  end
  return replies
end

-- Fields `names` (an array) of hash `key`, FIELDS_PER_CALL a call: an
-- array of values, false where a field does not exist.
local function readFields(key, names)
  return callInParts('HMGET', key, names, FIELDS_PER_CALL)
end

-- The elements of `array` from `first` on, as an array.
local function arrayFrom(array, first)
  local out = {}
  for i = first, #array do out[#out + 1] = array[i] end
  return out
end

-- Changes to one hash (see newWrites), written at the end by writeFields:
-- one HSET and one HDEL per FIELDS_PER_CALL fields.
local function newWrites()
  return { sets = {}, dels = {} }
end

local function setField(writes, name, value)
  local sets = writes.sets
  sets[#sets + 1] = name
  sets[#sets + 1] = value
end

local function deleteField(writes, name)
  writes.dels[#writes.dels + 1] = name
end

local function writeFields(key, writes)
  callInParts('HSET', key, writes.sets, 2 * FIELDS_PER_CALL)
  callInParts('HDEL', key, writes.dels, FIELDS_PER_CALL)
end

-- The head token of a lane, its lease (owner, until ms; nil without one) and
-- the rest of the lane (the waiting tokens, each after a space; '' for none).
local function laneHead(lane)
  local head, rest = lane, ''
  local space = find(lane, ' ', 1, true)
  if space then head, rest = sub(lane, 1, space - 1), sub(lane, space) end
  local bar = find(head, '|', 1, true)
  if not bar then return head, nil, nil, rest end
  local bar2 = find(head, '|', bar + 1, true)
  return sub(head, 1, bar - 1), sub(head, bar + 1, bar2 - 1), tonumber(sub(head, bar2 + 1)), rest
end

-- The state letters' bytes.
local QUEUED, FAILED, SENT, DEAD = byte('q'), byte('f'), byte('s'), byte('d')
local STATE_OF = { [QUEUED] = 'q', [FAILED] = 'f', [SENT] = 's', [DEAD] = 'd' }

-- A record's state letter and the position of the bar that ends its
-- successor; nil when the value is not a record.
local function recordState(value)
  local state = STATE_OF[byte(value, 1)]
  if not state or byte(value, 2) ~= 124 then return nil end
  local bar = find(value, '|', 3, true)
  if not bar then return nil end
  return state, bar
end

-- The successor a record names ('' for none); `bar` from recordState.
local function recordNext(value, bar)
  return sub(value, 3, bar - 1)
end

-- The name of a state letter, as the totals' fields spell it.
local STATE_NAMES = { q = 'queued', f = 'failed', s = 'sent', d = 'dead' }

local function isFinal(state)
  return state == 's' or state == 'd'
end

-- Pops `token` off the head of a lane (its value `lane`, false for none):
-- returns the lane left (false when empty, nil when unchanged: its head is
-- another token, the delivery was popped before or never reached the head)
-- and the token released to be sent next ('' when none).
local function popLane(lane, token)
  if not lane then return nil, '' end
  if lane == token then return false, '' end
  local head, _, _, rest = laneHead(lane)
  if head ~= token then return nil, '' end
  if rest == '' then return false, '' end
  local left = sub(rest, 2)
  local space = find(left, ' ', 1, true)
  return left, space and sub(left, 1, space - 1) or left
end

-- The lane with the lease `owner` holds on `token` (its head) given back;
-- nil when it holds none there (a lease another job took since is left
-- alone).
local function releasedLane(lane, token, owner)
  if not lane or lane == token then return nil end
  local head, holder, _, rest = laneHead(lane)
  if head ~= token or holder ~= owner then return nil end
  return token .. rest
end

-- The record `value` (its successor's end at `bar`) with its successor set
-- to `nextToken`.
local function withNext(value, bar, nextToken)
  if bar == 3 and nextToken == '' then return value end
  return sub(value, 1, 2) .. nextToken .. sub(value, bar)
end
