-- mark-reminded: records that the commander was reminded of the update due at
-- a given time, and counts it once; the entry leaves the reminder schedule
-- unless a newer update has already put the next reminder there. One script,
-- so that a reminder recorded twice (a retry) is counted once and a newer
-- schedule entry is never removed.
--
-- KEYS[1]  reminder schedule — zset: incident id, scored by when the commander is reminded
-- KEYS[2]  incident — hash: the incident's fields (remindedFor, nextUpdateDueAt)
-- KEYS[3]  cadence counts — hash: "holding" / "reminder" → how many, by every process
-- ARGV[1]  the incident id
-- ARGV[2]  the due time (ms) the commander was reminded of
-- Returns: 1.

if redis.call('HGET', KEYS[2], 'remindedFor') ~= ARGV[2] then redis.call('HINCRBY', KEYS[3], 'reminder', 1) end
redis.call('HSET', KEYS[2], 'remindedFor', ARGV[2])
if redis.call('HGET', KEYS[2], 'nextUpdateDueAt') == ARGV[2] then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
