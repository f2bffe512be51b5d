-- A large flow with packets in one direction only: a one-way transfer out of
-- a tap (exfiltration over UDP, an asymmetric route, a half-seen session).
-- Checked every periodic_update_seconds while the flow lives, and at its end;
-- one alert per flow.
local check = {
  l4_proto = { "tcp", "udp" },
  periodic_update_seconds = 60,
  default_value = { min_bytes = 100000000, score = 50 },
  hooks = {},
}

local function inspect(now, conf)
  if not flow.is_oneway() or flow.bytes() < conf.min_bytes then return end
  local state = flow.getScriptState()
  if state.alerted then return end
  state.alerted = true
  flow.triggerAlert(conf.score, string.format("one-way flow of %d bytes from %s to %s:%d",
    flow.bytes(), flow.cli(), flow.srv(), flow.srv_port()),
    { bytes = flow.bytes(), packets = flow.packets() })
end

check.hooks.periodicUpdate = inspect
check.hooks.flowEnd = inspect

return check
