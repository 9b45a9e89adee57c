-- deliveries-record: writes what one flush of a delivery job learned, in one
-- step: thread state first (a successor released below must find its
-- parent's reference), then the records and the update's totals, the job's
-- leases given back (only where it still holds them), and final deliveries
-- popped off their lanes. Safe to run again: a record already in its state
-- changes no total, and a final one popped before reports the successor it
-- released then.
-- uses: lanes
--
-- KEYS[1]  threads    — hash (incident): "channel|target key" -> thread state JSON
-- KEYS[2]  deliveries — hash (update, channel): target key -> record
-- KEYS[3]  totals     — hash (update): "channel:state" -> count of deliveries in that state
-- KEYS[4]  lanes      — hash (incident, channel): target key -> lane
-- ARGV[1]  the update id (the deliveries' token in their lanes)
-- ARGV[2]  owner: the job whose leases are given back
-- ARGV[3]  the channel (names the totals' fields)
-- ARGV[4]  n, the number of thread states, then n (field, JSON) pairs
-- then     (target key, record) pairs: each record's successor field is ''
-- Returns: { changed, target key, released update id, … }: changed has one
--   letter per record, '1' where its state changed ('0' for a re-run, or for
--   a record no longer there — removed at the end of its incident's
--   retention, it is not written back), then a pair per lane that released a
--   successor.

local threads, deliveries, totals, lanes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, owner, channel = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4])
for j = 1, n do
  redis.call('HSET', threads, ARGV[3 + 2 * j], ARGV[4 + 2 * j])
end
local changed, released, deltas = {}, {}, {}

-- Writes one outcome; returns '1' if the delivery's state changed.
local function recordOne(target, value)
  local old = redis.call('HGET', deliveries, target)
  -- Removed (its incident's retention ended) or never planned: not written back.
  if not old then return '0' end
  local state = recordState(value)
  -- One that cannot be read was counted as queued when it was planned.
  local oldState, oldNext = recordState(old)
  oldState = oldState or 'q'
  if isFinal(state) then
    local nextToken = popLane(lanes, target, token)
    if nextToken == '' and isFinal(oldState) then nextToken = oldNext end
    value = withNext(value, nextToken)
    if nextToken ~= '' then
      released[#released + 1] = target
      released[#released + 1] = nextToken
    end
  else
    releaseLease(lanes, target, token, owner)
  end
  redis.call('HSET', deliveries, target, value)
  if oldState == state then return '0' end
  local from, to = channel .. ':' .. STATE_NAMES[oldState], channel .. ':' .. STATE_NAMES[state]
  deltas[from] = (deltas[from] or 0) - 1
  deltas[to] = (deltas[to] or 0) + 1
  return '1'
end

for i = 5 + 2 * n, #ARGV, 2 do
  changed[#changed + 1] = recordOne(ARGV[i], ARGV[i + 1])
end
for field, delta in pairs(deltas) do
  if delta ~= 0 then redis.call('HINCRBY', totals, field, delta) end
end
local out = { table.concat(changed) }
for _, v in ipairs(released) do out[#out + 1] = v end
return out
