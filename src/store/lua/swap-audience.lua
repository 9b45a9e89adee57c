-- swap-audience: replaces an audience and its summary only if it is still
-- the JSON the caller read (compare-and-set), so that an edit from outside
-- the API (an unsubscribe, a webhook that answered 410) and a concurrent PUT
-- each win or lose whole. (WATCH would not do: the connection is shared by
-- requests.)
--
-- KEYS[1]  audiences — hash: audience name → Audience JSON
-- KEYS[2]  audiences version — string: a random version, new with every change
-- KEYS[3]  audience summaries — hash: audience name → AudienceSummary JSON
-- ARGV[1]  the audience's name
-- ARGV[2]  the JSON the caller read
-- ARGV[3]  the new JSON
-- ARGV[4]  the new version
-- ARGV[5]  the new summary JSON
-- Returns: 1 when swapped, 0 when the audience is no longer ARGV[2] (nothing changed).

if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[4])
return 1
