-- Arkime session script: enrichment through ArkimeHttpService. The Host of
-- every HTTP request is looked up on a reputation service,
--   GET <base URL>/lookup?host=<host>
-- whose reply body starts with one word, the verdict ("clean",
-- "malicious", ...). The flow gets the tag "reputation:<verdict>";
-- "malicious" also raises an alert. Without a verdict the tag says why:
-- "reputation:timeout", "reputation:connect", "reputation:http-<status>",
-- "reputation:refused" (too many lookups outstanding).
--
-- The flow's record waits for the answers: each lookup holds the flow's
-- final save (session:incr_outstanding) until its reply comes, or
-- lua.http.max_outstanding_ms passes.
--
-- The base URL is the first line of data/reputation_service.txt; it must
-- be allowed by lua.http.allow. Shipped off; turn it on with
--   lua: { http: { allow: ["http://127.0.0.1:8480"] },
--          script_config: [{script: flow/arkime_host_reputation, enabled: on}] }

default_enabled = false

local function base_url()
  for line in loupe.read_file("reputation_service.txt"):gmatch("[^\r\n]+") do
    local url = line:match("^%s*([^%s#]%S*)")
    if url then return url end
  end
  error("data/reputation_service.txt names no service")
end

-- Made at load even while the file is off, so that a URL lua.http.allow
-- does not list cannot stop the other scripts: the error is raised at the
-- first lookup instead.
local ok, service = pcall(ArkimeHttpService.new, base_url(), 4, 1024)
local service_error = not ok and service or nil

local function encode(s)
  return (s:gsub("[^%w%.%-_~:]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function verdict(session, code, body, err)
  if err then
    session:add_tag("reputation:" .. err)
  elseif code ~= 200 then
    session:add_tag("reputation:http-" .. code)
  else
    local word = body:match("^%s*([%w%-]+)") or "unreadable"
    session:add_tag("reputation:" .. word:lower())
    if word:lower() == "malicious" then
      session:trigger_alert(80, "HTTP request to a host the reputation service calls malicious")
    end
  end
end

function host_field(session, data, direction)
  if direction == 0 then session:table().host_next = data:get() == "host" end
end

function host_value(session, data, direction)
  local t = session:table()
  if direction ~= 0 or not t.host_next then return end
  t.host_next = nil
  local host = data:get():lower()
  t.asked = t.asked or {}
  if t.asked[host] then return end  -- once per host and flow
  t.asked[host] = true
  if service_error then error(service_error, 0) end
  session:incr_outstanding()
  local queued = service:request("GET", "/lookup?host=" .. encode(host), "",
    function(code, body, err)
      verdict(session, code, body, err)
      session:decr_outstanding()
    end)
  if not queued then
    session:add_tag("reputation:refused")
    session:decr_outstanding()
  end
end

ArkimeSession.http_on(ArkimeSession.HTTP.HEADER_FIELD, "host_field")
ArkimeSession.http_on(ArkimeSession.HTTP.HEADER_VALUE, "host_value")
