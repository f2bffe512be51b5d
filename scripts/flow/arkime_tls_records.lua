-- Arkime session script: a classifier and a parser for a binary protocol.
-- TLS connections (a handshake record, 0x16 0x03, at the start of the
-- client's first payload) get a parser that walks the TLS record layer of
-- both directions across segment boundaries: 5-byte headers (type,
-- version, length), then the record body, skipped. It counts records by
-- content type into the flow's fields and stops after `max_bytes` per
-- direction (returning -1 ends the parser, and the flow's reassembly once
-- nothing else listens). Shipped off (default_enabled below); turn it on
-- with lua.script_config: [{script: flow/arkime_tls_records, enabled: on}].

-- Every flow it watches is reassembled and parsed: off unless configured.
default_enabled = false

local max_bytes = 65536
local names = { [20] = "change_cipher_spec", [21] = "alert", [22] = "handshake",
                [23] = "application_data", [24] = "heartbeat" }

-- Per flow and direction: bytes still to skip in the current record, the
-- partial header, the bytes seen.
local function state(session, direction)
  local t = session:table()
  local s = t[direction]
  if not s then
    s = { skip = 0, head = "", seen = 0 }
    t[direction] = s
  end
  return s
end

function tls_parser(session, str, direction, gap)
  local s = state(session, direction)
  if gap then return -1 end  -- bytes are missing: the record boundaries are lost
  local i, n = 1, #str
  while i <= n do
    if s.skip > 0 then
      local take = math.min(s.skip, n - i + 1)
      s.skip = s.skip - take
      i = i + take
    else
      local need = 5 - #s.head
      s.head = s.head .. str:sub(i, i + need - 1)
      i = i + need
      if #s.head == 5 then
        local ctype = s.head:byte(1)
        local len = s.head:byte(4) * 256 + s.head:byte(5)
        session:add_string("tls.record.types", names[ctype] or tostring(ctype))
        local t = session:table()
        t.count = (t.count or 0) + 1
        s.skip = len
        s.head = ""
      end
    end
  end
  s.seen = s.seen + n
  if s.seen >= max_bytes then return -1 end
end

function tls_classify(session, str, direction)
  -- Both directions start with a handshake record: one parser sees both.
  local t = session:table()
  if t.parsing then return end
  t.parsing = true
  session:add_protocol("tls-records")
  session:register_parser(tls_parser)
end

function tls_save(session, final)
  if final then
    local t = session:table()
    if t.count then session:add_int("tls.record.count", t.count) end
  end
end

ArkimeSession.register_tcp_classifier("tls-handshake", 0, "\22\3", "tls_classify")
ArkimeSession.register_save("tls_save")
