-- claim-holding-statement: claims one incident whose holding statement is
-- due, for the calling process: leases its schedule entry (moves its score to
-- the end of the lease), so that however many processes look, one acts on it
-- — and if that process dies, the lease runs out and another one does. The
-- check that the entry is still due and the lease are one script: a process
-- that read the entry before another claimed it finds it leased. An entry
-- that no longer matches its incident (resolved, rescheduled) is repaired.
--
-- KEYS[1]  holding schedule — zset: incident id, scored by when a holding statement is due
-- KEYS[2]  incident — hash: the incident's fields
-- ARGV[1]  the incident id
-- ARGV[2]  now (ms)
-- ARGV[3]  when the lease ends (ms)
-- Returns: the incident's nextUpdateDueAt (ms) when claimed, false when not.

local schedule, incident = KEYS[1], KEYS[2]
local id, now, leasedUntil = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local score = tonumber(redis.call('ZSCORE', schedule, id))
if not score or score > now then return false end
local h = redis.call('HMGET', incident, 'status', 'nextUpdateDueAt')
local due = tonumber(h[2])
if not h[1] or h[1] == 'resolved' or not due then
  redis.call('ZREM', schedule, id)
  return false
end
if due > now then
  redis.call('ZADD', schedule, h[2], id)
  return false
end
redis.call('ZADD', schedule, leasedUntil, id)
return h[2]
