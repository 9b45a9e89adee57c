-- patch-incident: changes an open incident's title, components and cadence;
-- a new cadence reschedules at once (its next update is due at the last
-- broadcast + the new cadence). One script, so that the check that the
-- incident is open, the new clock and the schedules change together.
-- uses: incident-schedule
--
-- KEYS[1]  incident — hash: the incident's fields
-- KEYS[2]  holding schedule — zset: incident id, scored by when a holding statement is due
-- KEYS[3]  reminder schedule — zset: incident id, scored by when the commander is reminded
-- ARGV[1]  now (ms): updatedAt
-- ARGV[2]  title, '' to keep it
-- ARGV[3]  components JSON, '' to keep them
-- ARGV[4]  cadenceSeconds, '' to keep it (ARGV[5…7] are then unused)
-- ARGV[5]  the incident's lastBroadcastAt (ms) the clock below was computed from
-- ARGV[6]  the next update's due time (ms): that broadcast + the new cadence
-- ARGV[7]  when the commander is reminded of it (ms), '' for never
-- Returns: 'OK'.
-- Errors: NOTFOUND when there is no such incident (or it is a maintenance);
--         RESOLVED when it is resolved; CLOCK when its lastBroadcastAt is no
--         longer ARGV[5] (compute the clock again). Nothing is changed then.

local incident, holding, reminders = KEYS[1], KEYS[2], KEYS[3]
local now, title, components, cadence = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local lastBroadcast, due, remindAt = ARGV[5], ARGV[6], ARGV[7]
if redis.call('EXISTS', incident) == 0 or redis.call('HGET', incident, 'type') == 'maintenance' then
  return redis.error_reply('NOTFOUND')
end
if redis.call('HGET', incident, 'status') == 'resolved' then return redis.error_reply('RESOLVED') end
if cadence ~= '' and redis.call('HGET', incident, 'lastBroadcastAt') ~= lastBroadcast then
  return redis.error_reply('CLOCK')
end
if title ~= '' then redis.call('HSET', incident, 'title', title) end
if components ~= '' then redis.call('HSET', incident, 'components', components) end
if cadence ~= '' then
  redis.call('HSET', incident, 'cadenceSeconds', cadence, 'nextUpdateDueAt', due)
  reschedule(incident, redis.call('HGET', incident, 'id'), due, remindAt, holding, reminders)
end
redis.call('HSET', incident, 'updatedAt', now)
return 'OK'
