-- DNS names that hint at tunnelling (iodine, dnscat2, DNS exfiltration): a
-- query name longer than ordinary names are, a label near the 63-byte limit,
-- or a long label whose characters look random (high Shannon entropy), or a
-- query for a NULL record (type 10), which tunnels such as iodine use and
-- ordinary resolvers almost never ask for.
local check = {
  l4_proto = { "udp", "tcp" },
  l7_proto = "DNS",
  default_value = {
    max_name = 100,      -- bytes in the whole query name
    max_label = 50,      -- bytes in one label
    entropy_label = 24,  -- labels at least this long are tested for randomness
    max_entropy = 4.0,   -- bits per character
    score = 60,
  },
  hooks = {},
}

-- Shannon entropy of a string, in bits per character.
local function entropy(s)
  local counts, n = {}, #s
  for i = 1, n do
    local c = s:byte(i)
    counts[c] = (counts[c] or 0) + 1
  end
  local h = 0
  for _, k in pairs(counts) do
    local p = k / n
    h = h - p * math.log(p) / math.log(2)
  end
  return h
end

local function verdict(name, qtype, conf)
  if qtype == 10 then
    return "DNS query for a NULL record", { type = qtype }
  end
  if #name > conf.max_name then
    return string.format("DNS query name of %d bytes", #name), { length = #name }
  end
  for label in name:gmatch("[^.]+") do
    if #label > conf.max_label then
      return string.format("DNS label of %d bytes", #label), { label_length = #label }
    end
    if #label >= conf.entropy_label then
      local h = entropy(label)
      if h > conf.max_entropy then
        return string.format("random-looking DNS label (%.2f bits per character)", h),
               { label = label, entropy = math.floor(h * 100 + 0.5) / 100 }
      end
    end
  end
end

function check.hooks.protocolDetected(now, conf)
  local dns = flow.dns()
  local name = dns.last_query
  if not name then return end
  local why, details = verdict(name, dns.last_query_type, conf)
  if not why then return end
  details.query = name
  flow.triggerAlert(conf.score, why .. " from " .. flow.cli() .. ": possible DNS tunnel", details)
end

return check
