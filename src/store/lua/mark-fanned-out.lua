-- mark-fanned-out: records that an incident's updates up to a seq were fanned
-- out, moving the cursor forward and never back — read and write in one
-- script, so that two fan-outs finishing at once cannot move it backwards.
--
-- KEYS[1]  incident — hash: the incident's fields (fannedOutSeq)
-- ARGV[1]  the seq whose fan-out finished
-- Returns: 1.

local current = tonumber(redis.call('HGET', KEYS[1], 'fannedOutSeq') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'fannedOutSeq', ARGV[1]) end
return 1
