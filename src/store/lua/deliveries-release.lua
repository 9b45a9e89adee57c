-- deliveries-release: gives back the leases a job still holds on its
-- deliveries (it failed before recording them); a lease another job took
-- since is left alone.
-- uses: lanes
--
-- KEYS[1]  lanes — hash (incident, channel): target key -> lane
-- ARGV[1]  the update id (the deliveries' token in their lanes)
-- ARGV[2]  owner: the job giving its leases back
-- ARGV[3…] target keys, each named once
-- Returns: how many leases were given back.

local token, owner = ARGV[1], ARGV[2]
local targets = arrayFrom(ARGV, 3)
local lanes = readFields(KEYS[1], targets)
local writes = newWrites()
local count = 0
for i, target in ipairs(targets) do
  local lane = releasedLane(lanes[i], token, owner)
  if lane then
    setField(writes, target, lane)
    count = count + 1
  end
end
writeFields(KEYS[1], writes)
return count
