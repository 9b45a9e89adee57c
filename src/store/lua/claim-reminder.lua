-- claim-reminder: claims one incident whose commander is to be reminded now,
-- for the calling process: leases its schedule entry (as claim-holding-statement
-- does), in the same script as the checks that the entry is still due and
-- still owed. A reminder whose update is already due, or that was sent for
-- this due time, is dropped; one whose time (from the caller's reminder
-- lead) is still ahead is put back at that time.
--
-- KEYS[1]  reminder schedule — zset: incident id, scored by when the commander is reminded
-- KEYS[2]  incident — hash: the incident's fields
-- ARGV[1]  the incident id
-- ARGV[2]  now (ms)
-- ARGV[3]  when the lease ends (ms)
-- ARGV[4]  the incident's nextUpdateDueAt (ms) the reminder time was computed for
-- ARGV[5]  the incident's cadenceSeconds it was computed from
-- ARGV[6]  when the commander is reminded of that update (ms), '' for never
-- Returns: the incident's nextUpdateDueAt (ms) when claimed, false when not
-- (also when the incident's clock moved since ARGV[4…6] were computed: the
-- entry is then left for the next look).

local schedule, incident = KEYS[1], KEYS[2]
local id, now, leasedUntil = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local expectedDue, expectedCadence, remindAt = ARGV[4], ARGV[5], ARGV[6]
local score = tonumber(redis.call('ZSCORE', schedule, id))
if not score or score > now then return false end
local h = redis.call('HMGET', incident, 'status', 'nextUpdateDueAt', 'cadenceSeconds', 'remindedFor')
local due = tonumber(h[2])
if not h[1] or h[1] == 'resolved' or not due or due <= now or h[4] == h[2] then
  redis.call('ZREM', schedule, id)
  return false
end
if h[2] ~= expectedDue or h[3] ~= expectedCadence then return false end
if remindAt == '' then
  redis.call('ZREM', schedule, id)
  return false
end
if tonumber(remindAt) > now then
  redis.call('ZADD', schedule, remindAt, id)
  return false
end
redis.call('ZADD', schedule, leasedUntil, id)
return h[2]
