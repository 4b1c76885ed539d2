/**
 * Lua for RedisTwinCache. Each script touches only the entry hash and the guard of one lead; both keys share
 * the `{leadId}` hash tag, so the scripts also run on a Redis Cluster.
 *
 * Guard value: one kind byte then the version. `d` (deleted) blocks sets at or below the version, `s` (seen)
 * blocks only older ones, so the current version can be cached again after its entry expired.
 */

/*
 * Versions compare as byte strings. Lua's `<` goes through strcoll, and redis-server sets LC_COLLATE from its
 * environment, so the operator is not trusted with the order.
 */
const COMPARE = `
local function compare(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      if x < y then return -1 end
      return 1
    end
  end
  if #a == #b then return 0 end
  if #a < #b then return -1 end
  return 1
end
`;

/**
 * KEYS: entry, guard. ARGV: version, classification, markdown, entry TTL in ms (0: store nothing), guard TTL
 * in ms. Returns 1 (applied) or 0 (stale).
 */
export const SET_SCRIPT = `${COMPARE}
local version = ARGV[1]
local ttl = tonumber(ARGV[4])
local guard = redis.call('GET', KEYS[2])
if guard then
  local c = compare(version, string.sub(guard, 2))
  if c < 0 or (c == 0 and (string.sub(guard, 1, 1) == 'd' or ttl == 0)) then return 0 end
end
local current = redis.call('HGET', KEYS[1], 'v')
if current and compare(current, version) >= 0 then return 0 end
if ttl > 0 then
  redis.call('HSET', KEYS[1], 'v', version, 'c', ARGV[2], 'm', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl)
elseif current then
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[2], 's' .. version, 'PX', ARGV[5])
return 1
`;

/**
 * KEYS: entry, guard. ARGV: deletion version, guard TTL in ms. The entry always goes (erasure wins even over a
 * newer entry, which only costs a miss); the guard only moves up. Returns 1 if the guard moved.
 */
export const INVALIDATE_SCRIPT = `${COMPARE}
redis.call('DEL', KEYS[1])
local guard = redis.call('GET', KEYS[2])
if guard then
  local c = compare(ARGV[1], string.sub(guard, 2))
  if c < 0 or (c == 0 and string.sub(guard, 1, 1) == 'd') then return 0 end
end
redis.call('SET', KEYS[2], 'd' .. ARGV[1], 'PX', ARGV[2])
return 1
`;
