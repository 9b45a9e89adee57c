-- put-audience: stores an audience and its summary, unless it is a new one
-- beyond the most allowed. Counting and adding in one script, so that
-- concurrent PUTs cannot overshoot the limit; the audience, its summary and
-- the audiences' version change together, so a process that caches them by
-- version never holds a mix.
--
-- KEYS[1]  audiences — hash: audience name → Audience JSON
-- KEYS[2]  audiences version — string: a random version, new with every change
-- KEYS[3]  audience summaries — hash: audience name → AudienceSummary JSON
-- ARGV[1]  the audience's name
-- ARGV[2]  its JSON
-- ARGV[3]  the new version
-- ARGV[4]  the most audiences allowed
-- ARGV[5]  its summary JSON
-- Returns: 1.
-- Errors: LIMIT when the audience is new and there are ARGV[4] already.

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return redis.error_reply('LIMIT')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[3])
return 1
