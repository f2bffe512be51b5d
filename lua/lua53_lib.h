// Private to lua/: the Lua 5.3 run-time library of contract §9.3 (the
// operator helpers, string.pack and friends, utf8, math.maxinteger), and
// the 5.3 integers on LuaJIT's doubles its files share (lua/bind_lua53.cc,
// lua/lua53_pack.cc). A value is a 5.3 integer when it is integral and
// within the int64 range; a result can be handed back only within ±2^53,
// where every integer has its own double.
#pragma once

#include <cstdint>

struct lua_State;

namespace loupe {

class ScriptHost;

inline constexpr double kLua53MaxExact = 9007199254740992.0;  // 2^53

// Argument `arg` as a 5.3 integer: a number (or numeric string) with an
// exact integer value, else Lua 5.3's argument errors.
int64_t lua53_check_integer(lua_State* L, int arg);
// lua53_check_integer with a default for none or nil.
int64_t lua53_opt_integer(lua_State* L, int arg, int64_t dflt);
// Pushes `r`, or raises the limit error naming `what` when a double cannot
// hold it exactly.
void lua53_push_integer(lua_State* L, int64_t r, const char* what);

// Adds the library to a new VM's templates: the helpers the translator's
// output calls (lua/lua53.h) to the base table at the top of the stack,
// the rest to the library templates (h->ref_libs) and to the private
// string table behind strings' metatable.
void add_lua53(lua_State* L, ScriptHost* h);

// string.pack, string.unpack and string.packsize (lua/lua53_pack.cc),
// added to the table at the top of the stack.
void add_lua53_pack(lua_State* L, ScriptHost* h);

}  // namespace loupe
