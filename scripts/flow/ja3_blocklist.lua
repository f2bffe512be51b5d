-- TLS clients whose JA3 fingerprint is on a bad-fingerprint list
-- (data/ja3_blocklist.txt: one lower-case MD5 per line, '#' comments), or that
-- nDPI itself marks with NDPI_MALICIOUS_JA3 (classify.ndpi.ja3_file).
local bad = loupe.read_list("ja3_blocklist.txt")
local RISK_NAME = "Possibly Malicious JA3 Fingerprint"

local check = {
  l7_proto = { "TLS", "QUIC" },
  default_value = { score = 150 },
  hooks = {},
}

function check.hooks.protocolDetected(now, conf)
  local ja3 = flow.tls_quic().ja3_client
  local listed = ja3 and bad[ja3:lower()]
  local flagged = false
  for _, name in pairs(flow.risk()) do
    if name == RISK_NAME then flagged = true end
  end
  if not (listed or flagged) then return end
  flow.triggerAlert(conf.score, "TLS client " .. flow.cli() .. " with a known-bad JA3 fingerprint",
                    { ja3 = ja3 or "", source = listed and "ja3_blocklist.txt" or "nDPI" })
end

return check
