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
--   letter per record, '1' where its state changed ('0' for a re-run), then
--   a pair per lane that released a successor.

local threads, deliveries, totals, lanes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, owner, channel = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4])
for j = 1, n do
  redis.call('HSET', threads, ARGV[3 + 2 * j], ARGV[4 + 2 * j])
end
local changed, released, deltas = {}, {}, {}
for i = 5 + 2 * n, #ARGV, 2 do
  local target, value = ARGV[i], ARGV[i + 1]
  local state = recordState(value)
  local old = redis.call('HGET', deliveries, target)
  local oldState, oldNext
  if old then
    oldState, oldNext = recordState(old)
    -- One that cannot be read was counted as queued when it was planned.
    oldState = oldState or 'q'
  end
  if isFinal(state) then
    local nextToken = popLane(lanes, target, token)
    if nextToken == '' and isFinal(oldState) then nextToken = oldNext end
    value = withNext(value, nextToken)
    if nextToken ~= '' then
      released[#released + 1] = target
      released[#released + 1] = nextToken
    end
  else
    local lane = redis.call('HGET', lanes, target)
    if lane then
      local head, holder, _, rest = laneHead(lane)
      if head == token and holder == owner then redis.call('HSET', lanes, target, token .. rest) end
    end
  end
  redis.call('HSET', deliveries, target, value)
  if oldState ~= state then
    if oldState then
      local field = channel .. ':' .. STATE_NAMES[oldState]
      deltas[field] = (deltas[field] or 0) - 1
    end
    local field = channel .. ':' .. STATE_NAMES[state]
    deltas[field] = (deltas[field] or 0) + 1
    changed[#changed + 1] = '1'
  else
    changed[#changed + 1] = '0'
  end
end
for field, delta in pairs(deltas) do
  if delta ~= 0 then redis.call('HINCRBY', totals, field, delta) end
end
local out = { table.concat(changed) }
for _, v in ipairs(released) do out[#out + 1] = v end
return out
