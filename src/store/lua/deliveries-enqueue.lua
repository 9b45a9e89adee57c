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
-- ARGV[3…] (target key, record) pairs; each record is in state q
-- Returns: the target keys whose delivery heads its lane, to be sent now.

local deliveries, lanes, totals = KEYS[1], KEYS[2], KEYS[3]
local token, channel = ARGV[1], ARGV[2]
local ready = {}
local created = 0
for i = 3, #ARGV, 2 do
  local target = ARGV[i]
  if redis.call('HSETNX', deliveries, target, ARGV[i + 1]) == 1 then
    created = created + 1
    if redis.call('HSETNX', lanes, target, token) == 1 then
      ready[#ready + 1] = target
    else
      redis.call('HSET', lanes, target, redis.call('HGET', lanes, target) .. ' ' .. token)
    end
  else
    local lane = redis.call('HGET', lanes, target)
    if lane and laneHead(lane) == token then ready[#ready + 1] = target end
  end
end
if created > 0 then redis.call('HINCRBY', totals, channel .. ':queued', created) end
return ready
