/**
 * Lua for RedisRecentWrites. KEYS: the lead's key. ARGV: version, value (the version is its first 26
 * characters), TTL in ms. Sets the value only if the stored version is older (or there is none). Returns 1 if
 * set, 0 if the stored version is the same or newer.
 *
 * Versions compare byte by byte: Lua's `<` goes through strcoll, and redis-server sets LC_COLLATE from its
 * environment.
 */
export const NOTE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then
  local a, b = ARGV[1], string.sub(current, 1, 26)
  for i = 1, 26 do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      if x < y then return 0 end
      break
    end
    if i == 26 then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;
