-- deliveries-claim: reads a job's deliveries and takes the lease on each
-- that heads its lane and is not final, in one step, so that two jobs never
-- send one delivery at once. A lease this same owner took before (the job is
-- a retry of itself) is still its own; an expired one is taken over (its job
-- died). A final delivery still heading its lane (its job died between
-- recording it and popping it, or it was given up while waiting) is popped
-- here, and the successor it releases is reported.
-- uses: lanes
--
-- KEYS[1]  deliveries — hash (update, channel): target key -> record
-- KEYS[2]  lanes      — hash (incident, channel): target key -> lane
-- ARGV[1]  the update id (the deliveries' token in their lanes)
-- ARGV[2]  owner: the job taking the leases
-- ARGV[3]  lease length, ms
-- ARGV[4…] target keys, each named once
-- Returns: per target key, (status, record or ''): status 0 no such
--   delivery, 1 final, 2 waiting (not its turn), 3 mine (leased to owner),
--   4 held by another live job, 5 the record cannot be read. A final
--   record's successor field names the update its lane released.

local token, owner, leaseMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local targets = arrayFrom(ARGV, 4)
local records = readFields(KEYS[1], targets)
local laneValues = readFields(KEYS[2], targets)
local recordWrites, laneWrites = newWrites(), newWrites()
local lease = '|' .. owner .. '|' .. (now + leaseMs)
local out = {}
for i, target in ipairs(targets) do
  local value = records[i]
  local status = 0
  if value then
    local state, bar = recordState(value)
    local lane = laneValues[i]
    if not state then
      status = 5
    elseif lane == token and not isFinal(state) then
      -- The common lane: this update alone, no lease.
      status = 3
      setField(laneWrites, target, token .. lease)
    else
      local head, holder, untilMs, rest
      if lane then head, holder, untilMs, rest = laneHead(lane) end
      if isFinal(state) then
        status = 1
        if head == token then
          local left, nextToken = popLane(lane, token)
          if left then setField(laneWrites, target, left) else deleteField(laneWrites, target) end
          value = withNext(value, bar, nextToken)
          setField(recordWrites, target, value)
        end
      elseif head ~= token then
        status = 2
      elseif holder == nil or holder == owner or untilMs <= now then
        status = 3
        setField(laneWrites, target, token .. lease .. rest)
      else
        status = 4
      end
    end
  end
  out[#out + 1] = status
  out[#out + 1] = value or ''
end
writeFields(KEYS[1], recordWrites)
writeFields(KEYS[2], laneWrites)
return out
