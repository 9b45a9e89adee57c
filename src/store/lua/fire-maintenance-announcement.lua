-- fire-maintenance-announcement: posts one due announcement of a maintenance's
-- timeline (reminder, started, completed) if its member is still scheduled
-- and of the current version, and removes the member either way. One script,
-- so that an announcement goes out once, and never for a window rescheduled
-- or cancelled since it was scheduled.
--
-- KEYS[1]  maintenance — hash: the maintenance's fields
-- KEYS[2]  updates — list: the maintenance's announcements (JSON), in seq order
-- KEYS[3]  pending broadcasts — zset: "id/updateId" not yet broadcast
-- KEYS[4]  maintenance schedule — zset: "id|version|kind|atMs", scored by when due
-- ARGV[1]  the schedule member
-- ARGV[2]  the version it was scheduled under
-- ARGV[3]  now (ms)
-- ARGV[4]  the announcement's update JSON without seq
-- ARGV[5]  the maintenance's status after it
-- Returns: the announcement's JSON with its seq, or false when there is nothing to send.

local hash, updates, pending, schedule = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, version, now, updateJson, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if not redis.call('ZSCORE', schedule, member) then return false end
redis.call('ZREM', schedule, member)
local current = redis.call('HMGET', hash, 'version', 'status')
if current[1] ~= version or current[2] == 'completed' or current[2] == 'cancelled' then return false end
local update = cjson.decode(updateJson)
update.seq = redis.call('HINCRBY', hash, 'seq', 1)
local encoded = cjson.encode(update)
redis.call('RPUSH', updates, encoded)
redis.call('HSET', hash, 'status', status, 'updatedAt', now, 'lastBroadcastAt', now)
redis.call('ZADD', pending, now, update.incidentId .. '/' .. update.id)
return encoded
