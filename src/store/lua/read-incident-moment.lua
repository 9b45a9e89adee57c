-- read-incident-moment: reads an incident (or maintenance), its first update
-- and one named update, without reading its whole list of updates: one
-- script, so that the three are of one moment and cost one round trip however
-- long the incident. The update is looked for from the newest back (a
-- broadcast is almost always of one of the last). A record that names the id
-- but does not decode is returned as found, never raised on (one bad record
-- must not hide the others): the caller judges it.
--
-- KEYS[1]  incident — hash: the incident's fields
-- KEYS[2]  updates — list: the incident's updates (JSON), in seq order
-- ARGV[1]  the update id
-- Returns: { the incident hash as a flat list, the first update's JSON,
--          the update's JSON or false, its index (0-based) or -1 },
--          or nil when the incident does not exist.

local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return nil end
local n = redis.call('LLEN', KEYS[2])
local found = false
local index = -1
for i = -1, -n, -1 do
  local json = redis.call('LINDEX', KEYS[2], i)
  if string.find(json, ARGV[1], 1, true) then
    local ok, update = pcall(cjson.decode, json)
    if not ok or type(update) ~= 'table' or update.id == ARGV[1] then
      found = json
      index = n + i
      break
    end
  end
end
return { h, redis.call('LINDEX', KEYS[2], 0), found, index }
