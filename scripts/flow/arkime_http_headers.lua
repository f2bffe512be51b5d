-- Arkime session script: an HTTP header extractor. For every HTTP/1.x
-- message of a flow (pipelined ones included, over the reassembled
-- stream), the values of the headers named in data/http_headers.txt go into
-- the flow's fields as "http.hdr.<name>" (request headers) and
-- "http.rsp.<name>" (response headers). Shipped off (default_enabled
-- below); turn it on with lua.script_config:
-- [{script: flow/arkime_http_headers, enabled: on}].

-- Every flow it watches is reassembled and parsed: off unless configured.
default_enabled = false

local wanted = loupe.read_list("http_headers.txt")  -- lower-case names

function hdr_field(session, data, direction)
  local name = data:get()
  session:table().pending = wanted[name] and name or nil
end

function hdr_value(session, data, direction)
  local t = session:table()
  local name = t.pending
  if name then
    session:add_string((direction == 0 and "http.hdr." or "http.rsp.") .. name, data:get())
    t.pending = nil
  end
end

ArkimeSession.http_on(ArkimeSession.HTTP.HEADER_FIELD, "hdr_field")
ArkimeSession.http_on(ArkimeSession.HTTP.HEADER_VALUE, "hdr_value")
