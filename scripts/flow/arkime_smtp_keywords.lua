-- Arkime session script: an SMTP body keyword tagger. The "smtp" body feed
-- gives the DATA section of each message (dot-unstuffed) in chunks as they
-- arrive; a keyword of data/smtp_keywords.txt found in a body, whatever
-- the case and even across a chunk boundary, tags the flow
-- "smtp-keyword:<keyword>". Shipped off (default_enabled below); turn it
-- on with lua.script_config: [{script: flow/arkime_smtp_keywords, enabled: on}].

-- Every flow it watches is reassembled and parsed: off unless configured.
default_enabled = false

local keywords = {}
local longest = 0
for k in pairs(loupe.read_list("smtp_keywords.txt")) do
  keywords[#keywords + 1] = k:lower()
  longest = math.max(longest, #k)
end
table.sort(keywords)

function smtp_body(session, data, direction)
  local t = session:table()
  -- The tail of the previous chunk, so that a keyword cut in two is found.
  local text = (t.tail or "") .. data:get():lower()
  for _, k in ipairs(keywords) do
    if not (t.found and t.found[k]) and text:find(k, 1, true) then
      t.found = t.found or {}
      t.found[k] = true
      session:add_tag("smtp-keyword:" .. k)
    end
  end
  t.tail = text:sub(-(longest - 1))
end

ArkimeSession.register_body_feed("smtp", "smtp_body")
