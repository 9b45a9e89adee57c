-- threads-add-commander-message: adds a message sent to an incident's
-- commander to their email thread: a merge, not an overwrite, so that a
-- reminder and an alert sent at once both stay in the chain. A Message-ID
-- already in it (a retried send) changes nothing. The chain keeps its first
-- Message-ID and the most recent ones.
--
-- KEYS[1]  threads — hash (incident): field -> thread state JSON
-- ARGV[1]  the commander's field
-- ARGV[2]  the Message-ID just sent
-- ARGV[3]  the most References to keep
-- Returns: 1 when added, 0 when it was there already.

local raw = redis.call('HGET', KEYS[1], ARGV[1])
local state = raw and cjson.decode(raw) or {}
local references = state.references or {}
for _, id in ipairs(references) do
  if id == ARGV[2] then return 0 end
end
references[#references + 1] = ARGV[2]
local max = tonumber(ARGV[3])
if #references > max then
  local kept = { references[1] }
  for i = #references - max + 2, #references do kept[#kept + 1] = references[i] end
  references = kept
end
state.root = state.root or ARGV[2]
state.last = ARGV[2]
state.references = references
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(state))
return 1
