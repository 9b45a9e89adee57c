-- incident-schedule: puts an open incident on the cadence schedules at the
-- times its caller computed (src/domain/cadence.ts); no arithmetic here.
--   incident   the incident's hash key
--   id         the incident's id (the schedules' member)
--   due        when its next update is due (ms): the holding schedule's score
--   remindAt   when its commander is reminded (ms), or '' for never
--   holding    the holding-statement schedule's key
--   reminders  the reminder schedule's key
-- The commander is reminded only when the incident has one.
local function reschedule(incident, id, due, remindAt, holding, reminders)
  redis.call('ZADD', holding, due, id)
  local commander = redis.call('HGET', incident, 'commander')
  if commander and commander ~= '' and remindAt ~= '' then
    redis.call('ZADD', reminders, remindAt, id)
  else
    redis.call('ZREM', reminders, id)
  end
end
