-- deliveries-release: gives back the leases a job still holds on its
-- deliveries (it failed before recording them); a lease another job took
-- since is left alone.
-- uses: lanes
--
-- KEYS[1]  lanes — hash (incident, channel): target key -> lane
-- ARGV[1]  the update id (the deliveries' token in their lanes)
-- ARGV[2]  owner: the job giving its leases back
-- ARGV[3…] target keys
-- Returns: how many leases were given back.

local lanes, token, owner = KEYS[1], ARGV[1], ARGV[2]
local count = 0
for i = 3, #ARGV do
  if releaseLease(lanes, ARGV[i], token, owner) then count = count + 1 end
end
return count
