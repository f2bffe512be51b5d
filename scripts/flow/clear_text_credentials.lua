-- Credentials sent in clear text: HTTP basic authentication, a password in a
-- URL, FTP/POP/IMAP/SMTP logins... nDPI flags them with its risk
-- NDPI_CLEAR_TEXT_CREDENTIALS. flow.http() carries no request headers, so the
-- risk is how a script sees them (lua-api.md §4.1.4). The alert names the
-- server, never the credentials themselves.
local RISK_ID = 36                        -- NDPI_CLEAR_TEXT_CREDENTIALS in nDPI 4.2
local RISK_NAME = "Clear-Text Credentials"

local check = {
  default_value = { score = 100 },
  hooks = {},
}

local function has_risk(risks)
  if risks[RISK_ID] == RISK_NAME then return true end
  for _, name in pairs(risks) do         -- ids move between nDPI versions; names less
    if name == RISK_NAME then return true end
  end
  return false
end

-- Detection is when nDPI sets the risk; statusChanged catches a risk added later.
local function inspect(now, conf)
  local state = flow.getScriptState()
  if state.alerted or not has_risk(flow.risk()) then return end
  state.alerted = true
  local proto = flow.l7_proto_name()
  local details = { protocol = proto, server_port = flow.srv_port() }
  local host = flow.http().server_name
  if host then details.host = host end
  flow.triggerAlert(conf.score, string.format("credentials sent in clear text (%s) from %s to %s:%d",
    proto, flow.cli(), flow.srv(), flow.srv_port()), details)
end

check.hooks.protocolDetected = inspect
check.hooks.statusChanged = inspect

return check
