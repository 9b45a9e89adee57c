-- mark-fanned-out: records that an incident's updates up to a seq were fanned
-- out, moving the cursor forward and never back — read and write in one
-- script, so that two fan-outs finishing at once cannot move it backwards —
-- and answers the record of the update after it, to be woken: one round
-- trip where a fan-out used to make two.
--
-- KEYS[1]  incident — hash: the incident's fields (fannedOutSeq)
-- KEYS[2]  updates — list: the incident's updates (JSON), in seq order
-- ARGV[1]  the seq whose fan-out finished
-- Returns: the JSON of the update at seq + 1 as stored (it may not decode),
--   or false when none was posted yet.

local current = tonumber(redis.call('HGET', KEYS[1], 'fannedOutSeq') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'fannedOutSeq', ARGV[1]) end
-- Seqs count from 1, list indexes from 0: the update after seq is at index seq.
return redis.call('LINDEX', KEYS[2], ARGV[1])
