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
-- then     (target key, record) pairs, each target named once: each record's successor field is ''
-- Returns: { changed, target key, released update id, … }: changed has one
--   letter per record, '1' where its state changed ('0' for a re-run, or for
--   a record no longer there — removed at the end of its incident's
--   retention, it is not written back), then a pair per lane that released a
--   successor.

local token, owner, channel = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4])
if n > 0 then
  local threads = newWrites()
  for j = 1, n do setField(threads, ARGV[3 + 2 * j], ARGV[4 + 2 * j]) end
  writeFields(KEYS[1], threads)
end
local first = 5 + 2 * n
local targets = {}
for i = first, #ARGV, 2 do targets[#targets + 1] = ARGV[i] end
local olds = readFields(KEYS[2], targets)
local lanes = readFields(KEYS[4], targets)
local recordWrites, laneWrites = newWrites(), newWrites()
local changed, released, deltas = {}, {}, {}

-- Writes the outcome for the i-th target; returns '1' if its state changed.
local function recordOne(i, target, value)
  local old = olds[i]
  -- Removed (its incident's retention ended) or never planned: not written back.
  if not old then return '0' end
  local state, bar = recordState(value)
  local oldState, oldBar = recordState(old)
  if isFinal(state) then
    local left, nextToken = popLane(lanes[i], token)
    if left then setField(laneWrites, target, left) elseif left == false then deleteField(laneWrites, target) end
    if nextToken == '' and isFinal(oldState) then nextToken = recordNext(old, oldBar) end
    value = withNext(value, bar, nextToken)
    if nextToken ~= '' then
      released[#released + 1] = target
      released[#released + 1] = nextToken
    end
  else
    local lane = releasedLane(lanes[i], token, owner)
    if lane then setField(laneWrites, target, lane) end
  end
  setField(recordWrites, target, value)
  -- One that cannot be read was counted as queued when it was planned.
  oldState = oldState or 'q'
  if oldState == state then return '0' end
  deltas[oldState] = (deltas[oldState] or 0) - 1
  deltas[state] = (deltas[state] or 0) + 1
  return '1'
end

for i, target in ipairs(targets) do
  changed[i] = recordOne(i, target, ARGV[first + 2 * i - 1])
end
writeFields(KEYS[2], recordWrites)
writeFields(KEYS[4], laneWrites)
for state, delta in pairs(deltas) do
  if delta ~= 0 then redis.call('HINCRBY', KEYS[3], channel .. ':' .. STATE_NAMES[state], delta) end
end
local out = { table.concat(changed) }
for _, v in ipairs(released) do out[#out + 1] = v end
return out
