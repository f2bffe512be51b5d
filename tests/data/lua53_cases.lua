-- Lua 5.3 operators and library functions, one printed line per case. The
-- test runs this file with Debian's lua5.3 and in loupe's sandbox (through
-- the 5.3 translator) and compares the lines. Every case stays where both
-- must agree: results within ±2^53, no case that depends on 5.3 telling
-- 3 from 3.0 (numbers print with %.17g, so both print 3). The differences
-- loupe keeps on purpose are tested in tests/unit/lua/lua53_test.cc.

local fmt = string.format

local function show(v)
  local t = type(v)
  if t == "number" then
    if v ~= v then return "nan" end
    return fmt("%.17g", v)
  elseif t == "string" then
    return '"' .. v:gsub("[^%w ]", function(c) return fmt("\\%02x", c:byte()) end) .. '"'
  elseif t == "table" then
    local parts = {}
    for i = 1, #v do parts[i] = show(v[i]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

local function case(name, ...)
  local parts = { name }
  for i = 1, select("#", ...) do parts[#parts + 1] = show((select(i, ...))) end
  print(table.concat(parts, " "))
end

-- An error case: the message without its position and without the name of
-- the function (5.3 and LuaJIT name a function called through pcall
-- differently).
local function fails(name, f, ...)
  local ok, msg = pcall(f, ...)
  msg = tostring(msg):gsub("^[^:]*:%d+: ", ""):gsub(" to '[^']*'", "")
  print(name .. " " .. tostring(ok) .. " " .. msg)
end

-- Values a function returns, so that 5.3 folds no constant and names no
-- variable in its messages.
local function id(...) return ... end

-- Bitwise operators.
case("band", 5 & 3, 0xF0F0 & 0x0FF0, -1 & 0xFF, -256 & 0xFFF, 0 & -1)
case("bor", 5 | 3, -256 | 15, 0 | 0, 0x100 | 0x001)
case("bxor", 5 ~ 3, -8 ~ 3, -1 ~ 5, 7 ~ 7)
case("bnot", ~5, ~0, ~-1, ~~5, - ~5, ~-5, ~ 5 ^ 2)
case("shl", 1 << 0, 1 << 52, 3 << 4, -1 << 0, -1 << 53, 1 << 64, 1 << 100, 8 << -1, 1 << -1)
case("shr", 256 >> 4, -1 >> 63, -1 >> 11, -8 >> 0, -1 >> 64, 8 >> -1, 2 ^ 53 >> 63, 5 >> 1)
case("shift_float_operand", 4.0 << 1, 256.0 >> 4.0)
case("shift_string_operand", "4" << 1, "0x10" >> 1)
case("bitwise_string_operand", "3" & 1, "12" | "3")

-- Precedence and associativity: or < and < comparison < | < ~ < & < shift
-- < .. < + - < * / // % < unary < ^.
case("prec_or_and", 1 | 2 & 3, (1 | 2) & 3)
case("prec_or_xor", 1 | 6 ~ 3, (1 | 6) ~ 3)
case("prec_xor_and", 6 ~ 3 & 5, (6 ~ 3) & 5)
case("prec_and_shift", 5 & 3 << 1, (5 & 3) << 1)
case("prec_shift_add", 1 << 2 + 1, (1 << 2) + 1)
case("prec_shift_concat", 4 << 1 .. "", "2" .. "3" << 1)
case("prec_compare", 1 < 2 | 4, 3 == 1 | 2, 5 ~ 3 ~= 6, 5 ~ 3 == 6)
case("prec_logic", 1 & 0 or 7, nil or 1 | 2, 2 and 3 << 1)
case("prec_unary", ~5 + 1, -7 // 2, - 7 // 2, #"abcd" << 1, -2 ^ 2 // 1)
case("prec_idiv_mul", 1 + 2 // 2 * 3, 7 // 2 ^ 2, 20 // 3 % 4, 2 * 9 // 4)
case("assoc_left", 1 ~ 2 ~ 3, 1 << 2 << 3, 256 >> 2 >> 1, 100 // 7 // 2, 1 - 2 - 3)
case("assoc_right", 2 ^ 3 ^ 2, "1" .. "0" .. 1 << 2)
case("mixed", 0xFF & ~0xF | 0x3 ~ 0x1 << 2, (0xFF & ~0xF | 0x3 ~ 0x1) << 2)
case("negative_mix", -3 & -5, -3 | 4, -3 ~ -5, ~(-3 & 12) >> 60)

-- Operators in every kind of expression position.
local t = { 1 & 3, x = 6 | 1, [2 << 1] = 1 ~ 3 }
case("table_fields", t[1], t.x, t[4])
local obj = { v = 12 }
function obj:shifted(n) return self.v >> n end
case("method_call", obj:shifted(2), obj:shifted(1 | 1))
case("call_args", math.max(1 << 3, 3 | 4), fmt("%d", 12 >> 2))
case("function_body", (function(a, b) return a & b, a | b end)(12, 10))
local acc = 0
for i = 1 << 1, 16 >> 1, 1 | 1 do acc = acc ~ i end
case("for_loop", acc)
local n = 0
while n < 1 << 4 do n = (n << 1) | 1 end
case("while_loop", n)
local multiline = 0xF0
  | 0x0F
  & 0x3C
case("multiline", multiline)
case("strings_untouched", "a & b | c ~ d << e >> f // g", [[~x]], [==[ 1 // 2 ]==])
-- A comment with & | ~ << >> // in it.
--[[ a long comment: x = 1 // 0 ]]
case("not_equal", 1 ~= 2, 3 ~= 3)

-- Floor division.
case("idiv_int", 7 // 2, -7 // 2, 7 // -2, -7 // -2, 6 // 3, 0 // 5, -1 // 3)
case("idiv_float", 7.5 // 2, -7.5 // 2, 7 // 2.5, 7 // 0.5, -0.5 // 1, 1e300 // 1e-10)
case("idiv_string", "7" // 2, 9 // "2")
case("idiv_type", math.type(7 // 2), math.type(-9 // 4))
case("mod_unchanged", 7 % 3, -7 % 3, 7 % -3, 5.5 % 2)

-- Errors of the operators.
fails("err_band_float", function() return id(1.5) & 1 end)
fails("err_bor_float", function() return 1 | id(2.25) end)
fails("err_shl_float", function() return id(0.5) << 1 end)
fails("err_bnot_float", function() return ~id(1.5) end)
fails("err_band_nil", function() return id(nil) & 1 end)
fails("err_bor_table", function() return 1 | id({}) end)
fails("err_bxor_bool", function() return id(true) ~ 1 end)
fails("err_idiv_zero", function() return id(7) // id(0) end)
fails("err_idiv_nil", function() return id(nil) // 2 end)
fails("err_band_string", function() return id("x") & 1 end)

-- Metamethods of the new operators.
local mt = {
  __band = function(a, b) return "band" end,
  __shl = function(a, b) return "shl" end,
  __bnot = function(a) return "bnot" end,
  __idiv = function(a, b) return "idiv" end,
}
local m = setmetatable({}, mt)
case("metamethods", m & 1, 1 << m, ~m, m // 2, 3 // m)

-- string.pack and string.unpack: every format letter, both byte orders.
local function roundtrip(name, f, ...)
  local packed = string.pack(f, ...)
  case(name, packed, #packed, string.unpack(f, packed))
end
roundtrip("pack_b", "b b", -128, 127)
roundtrip("pack_B", "B B", 0, 255)
roundtrip("pack_h", "<h >h", -300, -300)
roundtrip("pack_H", "<H >H", 65535, 258)
roundtrip("pack_i", "<i >i", -5, 0x01020304)
roundtrip("pack_I", "<I >I", 7, 0xA0B0C0D0)
roundtrip("pack_l", "<l >l", -(2 ^ 40), 2 ^ 40 + 1)
roundtrip("pack_L", "<L >L", 2 ^ 40, 12345)
roundtrip("pack_j", "<j >j", 2 ^ 53, -(2 ^ 53))
roundtrip("pack_J", "<J >J", 12345, 2 ^ 52)
roundtrip("pack_T", "<T >T", 99, 1)
roundtrip("pack_i_sizes", "<i1 i2 i3 i5 i7", -1, -2, -70000, -(2 ^ 33), 2 ^ 52 + 1)
roundtrip("pack_I_sizes", ">I1 I2 I3 I5 I7", 255, 65535, 0xABCDEF, 2 ^ 39, 2 ^ 53 - 1)
roundtrip("pack_wide", "<i9 >i9 <I16 >i16", -2, 3, 42, -42)
roundtrip("pack_f", "<f >f", 1.5, -0.25)
roundtrip("pack_d", "<d >d", -0.1, 1e300)
roundtrip("pack_n", "<n >n", 3.25, -(2 ^ -20))
roundtrip("pack_s", "<s >s s1 s2", "hello", "", "hi", ("x"):rep(300))
roundtrip("pack_z", "z z", "abc", "")
roundtrip("pack_c", "c5 c2 c0", "ab", "xy", "")
roundtrip("pack_x", "b x x h", 1, 2)
roundtrip("pack_native", "=I4 =h", 0x01020304, -2)
roundtrip("pack_align", "!4 b i4 b h", 1, 2, 3, 4)
roundtrip("pack_align8", "!8 b d b j", 1, 2.5, 3, 4)
roundtrip("pack_align2", "!2 b i8", 1, -1)
roundtrip("pack_align_default", "! b j", 7, 8)
roundtrip("pack_X", "!4 b Xi4 b Xh b", 1, 2, 3)
roundtrip("pack_X_unaligned", "b Xi4 b", 1, 2)
roundtrip("pack_spaces", " < i2   > i2 ", 1, 1)
case("packsize", string.packsize("i4 i8"), string.packsize("!8 b d"), string.packsize("c10 x"),
  string.packsize("!4 b Xi8 h"), string.packsize("<>=!"), string.packsize(""))
case("unpack_pos", string.unpack("<i2", "\1\0\2\0\3\0", 3), string.unpack("B", "abc", -1))
case("unpack_next", string.unpack("z B", "ab\0c"))
case("unpack_empty", string.unpack("", "abc", 4))
fails("err_pack_overflow", string.pack, "i1", 200)
fails("err_pack_unsigned", string.pack, "I1", -1)
fails("err_pack_size", string.pack, "i17", 1)
fails("err_pack_option", string.pack, "y", 1)
fails("err_pack_zeros", string.pack, "z", "a\0b")
fails("err_pack_longer", string.pack, "c2", "abc")
fails("err_pack_float", string.pack, "i4", 1.5)
fails("err_pack_missing", string.pack, "i4")
fails("err_pack_c_size", string.pack, "c", "a")
fails("err_pack_X", string.pack, "X", 1)
fails("err_pack_align", string.pack, "!4 i3 Xi3", 1)
fails("err_unpack_short", string.unpack, "i4", "ab")
fails("err_unpack_wide", string.unpack, "<i9", ("\0"):rep(8) .. "\1")
fails("err_unpack_pos", string.unpack, "b", "ab", 4)
fails("err_unpack_z", string.unpack, "z", "abc")
fails("err_packsize_var", string.packsize, "s")

-- utf8.
local s = utf8.char(72, 228, 8364, 66376, 128512)
case("utf8_char", s, utf8.char(), utf8.char(0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF))
local count = 0
for _ in s:gmatch(utf8.charpattern) do count = count + 1 end
case("utf8_charpattern", count, type(utf8.charpattern))
case("utf8_codepoint", utf8.codepoint(s, 1, -1))
case("utf8_codepoint_default", utf8.codepoint(s), utf8.codepoint(s, 2), utf8.codepoint(s, 4, 3))
case("utf8_len", utf8.len(s), utf8.len(s, 2), utf8.len(s, 3), utf8.len(s, -4), utf8.len(""))
case("utf8_len_invalid", utf8.len("ab\xffcd"), utf8.len("\xc0\x80"), utf8.len("\xed\xa0\x80"))
case("utf8_len_range", utf8.len(s, 1, 1), utf8.len(s, 4, 3), utf8.len("abc", 4))
case("utf8_offset", utf8.offset(s, 1), utf8.offset(s, 3), utf8.offset(s, -1), utf8.offset(s, -2),
  utf8.offset(s, 0, 3), utf8.offset(s, 10), utf8.offset(s, 6), utf8.offset(s, 2, 4))
local codes = {}
for p, c in utf8.codes(s) do codes[#codes + 1] = p .. ":" .. c end
case("utf8_codes", table.concat(codes, " "))
fails("err_utf8_codepoint", utf8.codepoint, "a\xff", 1, -1)
fails("err_utf8_char", utf8.char, 0x110000)
fails("err_utf8_char_negative", utf8.char, -1)
fails("err_utf8_offset_cont", utf8.offset, s, 1, 3)
fails("err_utf8_offset_range", utf8.offset, s, 1, 100)
fails("err_utf8_codes", function() for _ in utf8.codes("ab\xff") do end end)
fails("err_utf8_len_range", utf8.len, "abc", 5)

-- math.
case("math_type", math.type(1), math.type(1.5), math.type("1"), math.type(nil), math.type(-0.5))
case("math_tointeger", math.tointeger(3), math.tointeger(3.5), math.tointeger("8"),
  math.tointeger(-2 ^ 40), math.tointeger({}))
case("math_ult", math.ult(1, 2), math.ult(-1, 2), math.ult(2, -1), math.ult(-2, -1), math.ult(3, 3))
fails("err_math_ult", math.ult, 1.5, 2)

-- table.move, with overlaps.
local function moved(...)
  local a = { 1, 2, 3, 4, 5 }
  table.move(a, ...)
  return a
end
case("move_up", moved(1, 3, 2))
case("move_down", moved(2, 5, 1))
case("move_far", moved(1, 3, 3))
case("move_same", moved(1, 5, 1))
case("move_empty", moved(3, 2, 1))
local a = { 1, 2, 3, 4, 5 }
case("move_explicit_same", table.move(a, 1, 3, 2, a))
local b = { 9, 9 }
case("move_other", table.move({ 1, 2, 3 }, 1, 3, 2, b), table.move({}, 1, 0, 1, b) == b)
