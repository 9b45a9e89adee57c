-- post-incident-update: appends an update to an open incident, numbered
-- next, moves the incident's clock and marks the broadcast as pending — one
-- script, so that no reader ever sees half of it and a holding statement
-- goes out only if nothing was broadcast since it was scheduled (that check
-- and the write must not be separated: it is what makes it exactly-once).
-- A holding statement repeats the last thing the commander said.
-- uses: incident-schedule
--
-- KEYS[1]  incident — hash: the incident's fields
-- KEYS[2]  updates — list: the incident's updates (JSON), in seq order
-- KEYS[3]  open incidents — zset: open incident ids
-- KEYS[4]  pending broadcasts — zset: "incidentId/updateId" not yet broadcast
-- KEYS[5]  holding schedule — zset: incident id, scored by when a holding statement is due
-- KEYS[6]  reminder schedule — zset: incident id, scored by when the commander is reminded
-- ARGV[1]  the incident id
-- ARGV[2]  the new update's id
-- ARGV[3]  message (a holding statement's is replaced by the last one posted)
-- ARGV[4]  status, '' to keep the incident's
-- ARGV[5]  kind: update | holding (a status of resolved makes it resolved)
-- ARGV[6]  author
-- ARGV[7]  postedAt, ISO-8601
-- ARGV[8]  now (ms): updatedAt and lastBroadcastAt
-- ARGV[9]  the nextUpdateDueAt (ms) a holding statement was scheduled for, '' for any
-- ARGV[10] the incident's cadenceSeconds the clock below was computed from
-- ARGV[11] the next update's due time (ms), from now and that cadence
-- ARGV[12] when the commander is reminded of it (ms), '' for never
-- Returns: { update JSON, the incident's audiences JSON }.
-- Errors: NOTFOUND when there is no such incident (or it is a maintenance);
--         RESOLVED when it is resolved; STALE when ARGV[9] is no longer its
--         nextUpdateDueAt; CLOCK when its cadence is no longer ARGV[10]
--         (compute the clock again).

local incident, updates, open, pending, holding, reminders = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, updateId, message, status, kind, author, postedAt, now, expectedDue =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local cadence, due, remindAt = ARGV[10], ARGV[11], ARGV[12]
if redis.call('EXISTS', incident) == 0 or redis.call('HGET', incident, 'type') == 'maintenance' then
  return redis.error_reply('NOTFOUND')
end
local current = redis.call('HMGET', incident, 'status', 'cadenceSeconds', 'nextUpdateDueAt', 'lastMessage')
if current[1] == 'resolved' then return redis.error_reply('RESOLVED') end
if expectedDue ~= '' and current[3] ~= expectedDue then return redis.error_reply('STALE') end
if status == '' then status = current[1] end
if status == 'resolved' then kind = 'resolved' end
if status ~= 'resolved' and current[2] ~= cadence then return redis.error_reply('CLOCK') end
if kind == 'holding' then
  if current[4] and current[4] ~= '' then message = current[4] end
else
  redis.call('HSET', incident, 'lastMessage', message)
end
local seq = redis.call('HINCRBY', incident, 'seq', 1)
local update = cjson.encode({
  id = updateId, incidentId = id, seq = seq, kind = kind, status = status,
  message = message, author = author, postedAt = postedAt })
redis.call('RPUSH', updates, update)
redis.call('HSET', incident, 'status', status, 'updatedAt', now, 'lastBroadcastAt', now)
if status == 'resolved' then
  redis.call('HSET', incident, 'resolvedAt', now, 'nextUpdateDueAt', '')
  redis.call('ZREM', open, id)
  redis.call('ZREM', holding, id)
  redis.call('ZREM', reminders, id)
else
  redis.call('HSET', incident, 'nextUpdateDueAt', due)
  reschedule(incident, id, due, remindAt, holding, reminders)
end
redis.call('ZADD', pending, now, id .. '/' .. updateId)
return { update, redis.call('HGET', incident, 'audiences') }
