-- apply-maintenance-change: creates or changes a maintenance: writes its
-- fields, replaces its scheduled announcements and appends the announcement
-- of the change with the next seq — only if the maintenance is still in the
-- state the change was judged against. One script, so that a change lands
-- whole on that state or not at all: firing an announcement (start,
-- completion) changes the status without a new version, so the status is part
-- of the expected state, and a change judged against "scheduled" never lands
-- on a maintenance that has started since.
--
-- KEYS[1]  maintenance — hash: the maintenance's fields (events: its scheduled members)
-- KEYS[2]  updates — list: the maintenance's announcements (JSON), in seq order
-- KEYS[3]  pending broadcasts — zset: "id/updateId" not yet broadcast
-- KEYS[4]  maintenance schedule — zset: "id|version|kind|atMs", scored by when due
-- KEYS[5]  maintenances — zset: every maintenance id, scored by creation time
-- ARGV[1]  the maintenance id
-- ARGV[2]  the expected state: '' to create, else "version|status" as read
-- ARGV[3]  now (ms)
-- ARGV[4]  the announcement's update JSON without seq, '' for none
-- ARGV[5]  how many fields follow
-- ARGV[6…] the fields (name, value)…, then the new schedule members (member, score)…
-- Returns: the announcement's JSON with its seq, or false when there is none.
-- Errors: EXISTS when creating one that exists; NOTFOUND when changing one
--         that does not; STALE when its state is no longer ARGV[2].

local hash, updates, pending, schedule, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, expected, now, updateJson, fieldCount = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if expected == '' then
  if redis.call('EXISTS', hash) == 1 then return redis.error_reply('EXISTS') end
  redis.call('ZADD', index, now, id)
else
  if redis.call('EXISTS', hash) == 0 then return redis.error_reply('NOTFOUND') end
  local state = redis.call('HMGET', hash, 'version', 'status')
  if (state[1] or '') .. '|' .. (state[2] or '') ~= expected then return redis.error_reply('STALE') end
  for member in string.gmatch(redis.call('HGET', hash, 'events') or '', '[^\n]+') do
    redis.call('ZREM', schedule, member)
  end
end
local i = 6
for _ = 1, fieldCount do
  redis.call('HSET', hash, ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HINCRBY', hash, 'version', 1)
local members = {}
while i <= #ARGV do
  redis.call('ZADD', schedule, ARGV[i + 1], ARGV[i])
  members[#members + 1] = ARGV[i]
  i = i + 2
end
redis.call('HSET', hash, 'events', table.concat(members, '\n'), 'updatedAt', now)
if updateJson == '' then return false end
local update = cjson.decode(updateJson)
update.seq = redis.call('HINCRBY', hash, 'seq', 1)
local encoded = cjson.encode(update)
redis.call('RPUSH', updates, encoded)
redis.call('HSET', hash, 'lastBroadcastAt', now)
redis.call('ZADD', pending, now, id .. '/' .. update.id)
return encoded
