-- TLS or QUIC to a server name on a local blocklist (data/sni_blocklist.txt:
-- one lower-case name per line, '#' comments). A listed name also matches its
-- subdomains: "example.invalid" matches "cdn.example.invalid".
local blocked = loupe.read_list("sni_blocklist.txt")

local check = {
  l7_proto = { "TLS", "QUIC" },
  default_value = { score = 100 },
  hooks = {},
}

local function listed(name)
  while name do
    if blocked[name] then return name end
    name = name:match("^[^.]*%.(.+)$")
  end
end

function check.hooks.protocolDetected(now, conf)
  local sni = flow.tls_quic().client_requested_server_name
  if not sni then return end
  local entry = listed(sni:lower())
  if entry then
    flow.triggerAlert(conf.score, "TLS to listed server name " .. sni .. " from " .. flow.cli(),
                      { sni = sni, entry = entry })
  end
end

return check
