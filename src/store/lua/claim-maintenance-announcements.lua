-- claim-maintenance-announcements: claims the maintenance announcements due
-- now, for the calling process: each is leased (its score moved to the end of
-- the lease) in the same script that found it due, so however many processes
-- look, one takes it. The script that posts an announcement removes its
-- member; one whose process died comes due again when the lease runs out.
--
-- KEYS[1]  maintenance schedule — zset: "id|version|kind|atMs", scored by when due
-- ARGV[1]  now (ms)
-- ARGV[2]  when the lease ends (ms)
-- ARGV[3]  the most members to claim
-- Returns: the members claimed, in the order they were due.

local now, leasedUntil, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
for _, member in ipairs(members) do redis.call('ZADD', KEYS[1], leasedUntil, member) end
return members
