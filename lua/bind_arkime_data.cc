// ArkimeData for Lua (contract §5.7): the ArkimeData table (new,
// pcre_create, pattern_create; also under its old name MolochData, §5.1),
// the data objects' methods, and the engine's half of borrowed objects
// (lua/arkime_data.h).
//
// Three userdata types, told apart by their metatables (locked, §6.2):
// ArkimeData {bytes, len, generation} with owned bytes inline after it
// (generation 0) or borrowed ones elsewhere (the VM's callback generation
// when it was made); ArkimePcre, a compiled arkime::Pcre; ArkimePattern,
// the glob's bytes. Every function has five upvalues: the host, the VM's
// ArkimeDataVm, and the three metatables, so that a type check is one
// metatable read and one comparison.
#include <cstring>
#include <lua.hpp>
#include <new>
#include <string_view>

#include "lua/arkime_data.h"
#include "lua/script_host.h"

namespace loupe {

struct ArkimeDataVm {
  // Borrowed objects stamped with another generation are stale. Starts at
  // 1: 0 marks owned objects.
  uint64_t generation = 1;
  arkime::PcreContext pcre;
  int data_mt = LUA_NOREF;
  int pcre_mt = LUA_NOREF;
  int cache = LUA_NOREF;  // pattern text -> ArkimePcre, weak values
  explicit ArkimeDataVm(arkime::PcreMemory mem) : pcre(mem) {}
};

namespace {

// The registry key of the VM's ArkimeDataVm: this variable's address.
const char kVmKey = 0;

// Upvalue 1 is the host (host_of).
constexpr int kUpVm = 2;
constexpr int kUpDataMt = 3;
constexpr int kUpPcreMt = 4;
constexpr int kUpGlobMt = 5;

constexpr const char* kStale =
    "ArkimeData: object used after its callback returned; keep data:copy() or data:get()";

struct DataObj {
  const char* bytes;
  size_t len;
  uint64_t generation;  // 0: owned, the bytes follow this header
};

struct GlobObj {
  size_t len;  // the glob's bytes follow
  std::string_view glob() const { return {reinterpret_cast<const char*>(this + 1), len}; }
};

ArkimeDataVm* vm_of(lua_State* L) {
  return static_cast<ArkimeDataVm*>(lua_touserdata(L, lua_upvalueindex(kUpVm)));
}

// PCRE2's memory comes from the VM's allocator (its arena, its cap), with
// the block size kept in front because PCRE2 frees without one. The
// context is the main state, which outlives every finaliser that frees
// PCRE2 memory (lua_close runs them all before it frees anything).
constexpr size_t kSizeHeader = 16;

void* pcre_alloc(size_t size, void* ctx) {
  void* ud = nullptr;
  const lua_Alloc f = lua_getallocf(static_cast<lua_State*>(ctx), &ud);
  void* block = f(ud, nullptr, 0, size + kSizeHeader);
  if (block == nullptr) return nullptr;
  *static_cast<size_t*>(block) = size + kSizeHeader;
  return static_cast<char*>(block) + kSizeHeader;
}

void pcre_free(void* p, void* ctx) {
  if (p == nullptr) return;
  void* ud = nullptr;
  const lua_Alloc f = lua_getallocf(static_cast<lua_State*>(ctx), &ud);
  char* block = static_cast<char*>(p) - kSizeHeader;
  f(ud, block, *reinterpret_cast<size_t*>(block), 0);
}

bool has_metatable(lua_State* L, int idx, int up) {
  if (!lua_getmetatable(L, idx)) return false;
  const bool same = lua_rawequal(L, -1, lua_upvalueindex(up)) != 0;
  lua_pop(L, 1);
  return same;
}

// The type name in "got ..." of an argument error: ours for our objects.
const char* type_name(lua_State* L, int idx) {
  if (lua_type(L, idx) == LUA_TUSERDATA) {
    if (has_metatable(L, idx, kUpDataMt)) return "ArkimeData";
    if (has_metatable(L, idx, kUpPcreMt)) return "ArkimePcre";
    if (has_metatable(L, idx, kUpGlobMt)) return "ArkimePattern";
  }
  return luaL_typename(L, idx);
}

// The object of a method call (stack index 1), valid: a stale borrowed
// object raises the contract's error.
DataObj* self_data(lua_State* L, const char* fn) {
  if (!has_metatable(L, 1, kUpDataMt)) {
    raise_error(L, ErrorKind::kApi, "%s: bad self (ArkimeData expected, got %s)", fn,
                type_name(L, 1));
  }
  auto* d = static_cast<DataObj*>(lua_touserdata(L, 1));
  if (d->generation != 0 && d->generation != vm_of(L)->generation) {
    raise_error(L, ErrorKind::kApi, "%s", kStale);
  }
  return d;
}

// Argument `n` of a method (the object not counted, §1.5): stack index n + 1.
[[noreturn]] void bad_method_arg(lua_State* L, const char* fn, int n, const char* param,
                                 const char* expected) {
  raise_error(L, ErrorKind::kApi, "%s: bad argument #%d '%s' (%s expected, got %s)", fn, n, param,
              expected, lua_isnone(L, n + 1) ? "nil" : type_name(L, n + 1));
}

std::string_view method_string(lua_State* L, const char* fn, int n, const char* param) {
  const int t = lua_type(L, n + 1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) bad_method_arg(L, fn, n, param, "string");
  size_t len = 0;
  const char* s = lua_tolstring(L, n + 1, &len);
  return {s, len};
}

// An owned copy of `len` bytes; its metatable from upvalue kUpDataMt.
void push_owned(lua_State* L, const char* bytes, size_t len) {
  auto* d = static_cast<DataObj*>(lua_newuserdata(L, sizeof(DataObj) + len));
  char* own = reinterpret_cast<char*>(d + 1);
  if (len != 0) std::memcpy(own, bytes, len);
  d->bytes = own;
  d->len = len;
  d->generation = 0;
  lua_pushvalue(L, lua_upvalueindex(kUpDataMt));
  lua_setmetatable(L, -2);
}

// --- ArkimeData.* --------------------------------------------------------------

int data_new(lua_State* L) {
  const std::string_view s = arg_string(L, 1, "ArkimeData.new", "str");
  push_owned(L, s.data(), s.size());
  return 1;
}

int pcre_gc(lua_State* L) {
  static_cast<arkime::Pcre*>(lua_touserdata(L, 1))->~Pcre();
  return 0;
}

// Compiled once per VM and pattern text: a script that calls pcre_create
// inside its callback pays a table lookup, not a compilation. The cache
// holds its values weakly, so patterns nobody keeps are collected.
int pcre_create(lua_State* L) {
  const std::string_view p = arg_string(L, 1, "ArkimeData.pcre_create", "pattern");
  ArkimeDataVm* vm = vm_of(L);
  lua_settop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->cache);
  lua_pushvalue(L, 1);
  lua_rawget(L, 2);
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  auto* re = new (lua_newuserdata(L, sizeof(arkime::Pcre))) arkime::Pcre();
  // The metatable (and its __gc) first: whatever fails below is freed.
  lua_pushvalue(L, lua_upvalueindex(kUpPcreMt));
  lua_setmetatable(L, -2);
  char why[160];
  if (!re->compile(vm->pcre, p, why)) {
    raise_error(L, ErrorKind::kApi, "ArkimeData.pcre_create: %s", why);
  }
  lua_pushvalue(L, 1);
  lua_pushvalue(L, -2);
  lua_rawset(L, 2);
  return 1;
}

int pattern_create(lua_State* L) {
  const std::string_view g = arg_string(L, 1, "ArkimeData.pattern_create", "glob");
  auto* obj = static_cast<GlobObj*>(lua_newuserdata(L, sizeof(GlobObj) + g.size()));
  obj->len = g.size();
  if (!g.empty()) std::memcpy(obj + 1, g.data(), g.size());
  lua_pushvalue(L, lua_upvalueindex(kUpGlobMt));
  lua_setmetatable(L, -2);
  return 1;
}

// --- data: methods -------------------------------------------------------------

int data_get(lua_State* L) {
  const DataObj* d = self_data(L, "data:get");
  lua_pushlstring(L, d->bytes, d->len);
  return 1;
}

int data_tostring(lua_State* L) {
  const DataObj* d = self_data(L, "tostring");
  lua_pushlstring(L, d->bytes, d->len);
  return 1;
}

int data_copy(lua_State* L) {
  const DataObj* d = self_data(L, "data:copy");
  push_owned(L, d->bytes, d->len);
  return 1;
}

// true and the 0-based offset, or false (§9.2 item 6: a boolean, where
// Arkime's implementation returns -1, which Lua takes for true).
int data_memmem(lua_State* L) {
  const DataObj* d = self_data(L, "data:memmem");
  const std::string_view needle = method_string(L, "data:memmem", 1, "needle");
  const size_t at = arkime::find_bytes({d->bytes, d->len}, needle);
  if (at == arkime::npos) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushboolean(L, 1);
  lua_pushinteger(L, static_cast<lua_Integer>(at));
  return 2;
}

bool poll_vm(void* vm) { return static_cast<const Vm*>(vm)->stop_due(); }

int data_pattern_ismatch(lua_State* L) {
  const char* fn = "data:pattern_ismatch";
  const DataObj* d = self_data(L, fn);
  if (!has_metatable(L, 2, kUpGlobMt)) bad_method_arg(L, fn, 1, "pattern", "ArkimePattern");
  const auto* g = static_cast<const GlobObj*>(lua_touserdata(L, 2));
  ScriptHost* h = host_of(L);
  const arkime::GlobStatus st = arkime::glob_match(g->glob(), {d->bytes, d->len}, poll_vm, &h->vm);
  if (st == arkime::GlobStatus::kInterrupted) h->vm.raise_stop_from_c(L);
  lua_pushboolean(L, st == arkime::GlobStatus::kMatch);
  return 1;
}

// Runs the ArkimePcre at stack index 2 over the object; the limits of
// §6.7 raise errors of kind limit.
arkime::Pcre* run_pcre(lua_State* L, const char* fn, bool* matched) {
  const DataObj* d = self_data(L, fn);
  if (!has_metatable(L, 2, kUpPcreMt)) bad_method_arg(L, fn, 1, "pcre", "ArkimePcre");
  auto* re = static_cast<arkime::Pcre*>(lua_touserdata(L, 2));
  ScriptHost* h = host_of(L);
  switch (re->match(vm_of(L)->pcre, {d->bytes, d->len})) {
    case arkime::PcreStatus::kMatch:
      *matched = true;
      return re;
    case arkime::PcreStatus::kNoMatch:
      *matched = false;
      return re;
    case arkime::PcreStatus::kMatchLimit:
      raise_error(L, ErrorKind::kLimit, "%s: PCRE2 match limit exceeded (1,000,000)", fn);
    case arkime::PcreStatus::kDepthLimit:
      raise_error(L, ErrorKind::kLimit, "%s: PCRE2 depth limit exceeded (10,000)", fn);
    case arkime::PcreStatus::kJitStackLimit:
      raise_error(L, ErrorKind::kLimit, "%s: PCRE2 JIT stack limit exceeded", fn);
    case arkime::PcreStatus::kNoMemory:
      // The VM's allocator refused: the memory error of §6.3 (the VM
      // noted the failure, so the error passes every pcall).
      if (h->vm.alloc_failed()) raise_error(L, ErrorKind::kMemory, "not enough memory");
      raise_error(L, ErrorKind::kLimit, "%s: PCRE2 has no memory left", fn);
    case arkime::PcreStatus::kError:
      break;
  }
  raise_error(L, ErrorKind::kRuntime, "%s: PCRE2 error: %s", fn, re->message());
}

int data_pcre_ismatch(lua_State* L) {
  bool matched = false;
  run_pcre(L, "data:pcre_ismatch", &matched);
  lua_pushboolean(L, matched);
  return 1;
}

// false, or true, the whole match and every group (nil when unset).
int data_pcre_match(lua_State* L) {
  bool matched = false;
  const arkime::Pcre* re = run_pcre(L, "data:pcre_match", &matched);
  if (!matched) {
    lua_pushboolean(L, 0);
    return 1;
  }
  const auto* d = static_cast<const DataObj*>(lua_touserdata(L, 1));
  const uint32_t n = re->groups() + 1;
  luaL_checkstack(L, static_cast<int>(n) + 1, "too many PCRE2 groups");
  lua_pushboolean(L, 1);
  for (uint32_t i = 0; i < n; ++i) {
    size_t b = 0, e = 0;
    if (re->group(i, &b, &e)) {
      lua_pushlstring(L, d->bytes + b, e - b);
    } else {
      lua_pushnil(L);
    }
  }
  return static_cast<int>(n) + 1;
}

int vm_gc(lua_State* L) {
  static_cast<ArkimeDataVm*>(lua_touserdata(L, 1))->~ArkimeDataVm();
  return 0;
}

// Sets t[name] (t at -1) to `fn` with the five upvalues.
void set_closure(lua_State* L, ScriptHost* h, ArkimeDataVm* vm, int glob_mt, const char* name,
                 lua_CFunction fn) {
  lua_pushlightuserdata(L, h);
  lua_pushlightuserdata(L, vm);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->data_mt);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->pcre_mt);
  lua_rawgeti(L, LUA_REGISTRYINDEX, glob_mt);
  lua_pushcclosure(L, fn, 5);
  lua_setfield(L, -2, name);
}

// A new locked metatable, referenced from the registry.
int new_metatable(lua_State* L) {
  lua_newtable(L);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

}  // namespace

ArkimeDataVm* arkime_data_vm(lua_State* L) {
  lua_pushlightuserdata(L, const_cast<char*>(&kVmKey));
  lua_rawget(L, LUA_REGISTRYINDEX);
  auto* vm = static_cast<ArkimeDataVm*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return vm;
}

void push_borrowed_data(lua_State* L, ArkimeDataVm* vm, const void* bytes, size_t len) {
  auto* d = static_cast<DataObj*>(lua_newuserdata(L, sizeof(DataObj)));
  d->bytes = static_cast<const char*>(bytes);
  d->len = len;
  d->generation = vm->generation;
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->data_mt);
  lua_setmetatable(L, -2);
}

void end_borrowed_data(ArkimeDataVm* vm) { ++vm->generation; }

const arkime::Pcre* to_arkime_pcre(lua_State* L, int idx) {
  ArkimeDataVm* vm = arkime_data_vm(L);
  if (vm == nullptr || lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) {
    return nullptr;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->pcre_mt);
  const bool same = lua_rawequal(L, -1, -2) != 0;
  lua_pop(L, 2);
  return same ? static_cast<const arkime::Pcre*>(lua_touserdata(L, idx)) : nullptr;
}

void add_arkime_data(lua_State* L, ScriptHost* h) {
  lua_State* main = h->L();
  auto* vm = new (lua_newuserdata(L, sizeof(ArkimeDataVm)))
      ArkimeDataVm(arkime::PcreMemory{pcre_alloc, pcre_free, main});
  lua_newtable(L);
  lua_pushcfunction(L, vm_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  if (!vm->pcre.ok()) luaL_error(L, "ArkimeData: cannot make the PCRE2 contexts");
  lua_pushlightuserdata(L, const_cast<char*>(&kVmKey));
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);

  lua_newtable(L);  // the cache, weak values
  lua_newtable(L);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  vm->cache = luaL_ref(L, LUA_REGISTRYINDEX);
  vm->data_mt = new_metatable(L);
  vm->pcre_mt = new_metatable(L);
  const int glob_mt = new_metatable(L);

  // ArkimeData's methods, reached through __index.
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->data_mt);
  lua_newtable(L);
  set_closure(L, h, vm, glob_mt, "memmem", data_memmem);
  set_closure(L, h, vm, glob_mt, "pattern_ismatch", data_pattern_ismatch);
  set_closure(L, h, vm, glob_mt, "pcre_ismatch", data_pcre_ismatch);
  set_closure(L, h, vm, glob_mt, "pcre_match", data_pcre_match);
  set_closure(L, h, vm, glob_mt, "get", data_get);
  set_closure(L, h, vm, glob_mt, "copy", data_copy);
  lua_setfield(L, -2, "__index");
  set_closure(L, h, vm, glob_mt, "__tostring", data_tostring);
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->pcre_mt);
  lua_pushcfunction(L, pcre_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  // The table, into the library templates at -1: every environment gets
  // its own plain copy (§6.2), under both names.
  lua_newtable(L);
  set_closure(L, h, vm, glob_mt, "new", data_new);
  set_closure(L, h, vm, glob_mt, "pcre_create", pcre_create);
  set_closure(L, h, vm, glob_mt, "pattern_create", pattern_create);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "ArkimeData");
  lua_setfield(L, -2, "MolochData");
}

}  // namespace loupe
