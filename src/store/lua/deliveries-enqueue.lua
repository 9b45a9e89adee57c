-- deliveries-enqueue: records a chunk of one update's new deliveries on one
-- channel and puts each at the end of its target's lane, in one step, so that
-- a delivery exists exactly when its lane names it. Safe to run again (a
-- broadcast re-run after a crash): a delivery already recorded is left as
-- it is and reported ready only if it heads its lane.
-- uses: lanes
--
-- KEYS[1]  deliveries — hash (update, channel): target key -> record
-- KEYS[2]  lanes      — hash (incident, channel): target key -> lane
-- KEYS[3]  totals     — hash (update): "channel:state" -> count of deliveries in that state
-- ARGV[1]  the update id (the deliveries' token in their lanes)
-- ARGV[2]  the channel (names the totals' fields)
-- ARGV[3…] (target key, record) pairs, each target named once; each record is in state q
-- Returns: the target keys whose delivery heads its lane, to be sent now.

local token, channel = ARGV[1], ARGV[2]
local targets = {}
for i = 3, #ARGV, 2 do targets[#targets + 1] = ARGV[i] end
local records = readFields(KEYS[1], targets)
local lanes = readFields(KEYS[2], targets)
local recordWrites, laneWrites = newWrites(), newWrites()
local ready = {}
local created = 0
for i, target in ipairs(targets) do
  local lane = lanes[i]
  if not records[i] then
    setField(recordWrites, target, ARGV[2 * i + 2])
    created = created + 1
    if lane then
      setField(laneWrites, target, lane .. ' ' .. token)
    else
      setField(laneWrites, target, token)
      ready[#ready + 1] = target
    end
  elseif lane and (lane == token or laneHead(lane) == token) then
    ready[#ready + 1] = target
  end
end
writeFields(KEYS[1], recordWrites)
writeFields(KEYS[2], laneWrites)
if created > 0 then redis.call('HINCRBY', KEYS[3], channel .. ':queued', created) end
return ready
