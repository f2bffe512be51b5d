-- A host that contacted many TCP/UDP server ports and got no answer: a
-- port scan or a misconfigured client. Counted over the minute (the
-- contact counters are reset after each check) from one-way flows that
-- ended; the alert stays engaged while the host keeps scanning and is
-- released at the first quiet minute.
local check = {
  default_value = { max_ports = 100, score = 80 },
  hooks = {},
}

function check.hooks.min(params)
  local conf = params.check_config
  local ports = host.getNumContactedTCPUDPServerPortsNoTX()
  if ports > conf.max_ports then
    local peers = host.getNumContactedPeersAsClientTCPUDPNoTX()
    host.triggerAlert(conf.score,
      string.format("%s contacted %d server ports on %d hosts without an answer",
                    host.ip(), ports, peers),
      { ports = ports, peers = peers })
  end
  host.resetHostContacts()
end

return check
