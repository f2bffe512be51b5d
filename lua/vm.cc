// lua/vm.h: the state, its arena and counting allocator, the interrupt hook.
#include "lua/vm.h"

#include <jemalloc/jemalloc.h>

#include <cstdio>
#include <cstdlib>
#include <lua.hpp>
#include <stdexcept>

namespace loupe {
namespace {

// The address is the identity; the value is never read.
const char kStopSentinel = 0;

// Every entry into a VM is protected; reaching this is a bug in the engine.
int on_panic(lua_State* L) {
  const char* msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
  std::fprintf(stderr, "lua: unprotected error in the Lua engine: %s\n", msg);
  std::abort();
}

int arena_flags(unsigned arena) { return MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE; }

}  // namespace

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

const void* Vm::stop_sentinel() { return &kStopSentinel; }

Vm::Vm(std::string name, uint64_t memory_limit)
    : name_(std::move(name)),
      limit_(memory_limit),
      hard_limit_(memory_limit + memory_limit / 4),
      watch_(std::make_shared<CallWatch>()) {
  watch_->name = name_;
  size_t sz = sizeof(arena_);
  if (mallctl("arenas.create", &arena_, &sz, nullptr, 0) != 0) {
    throw std::runtime_error("lua: cannot create a jemalloc arena for " + name_);
  }
  arena_made_ = true;
  L_ = lua_newstate(&Vm::alloc, this);
  if (L_ == nullptr) {
    char cmd[64];
    std::snprintf(cmd, sizeof(cmd), "arena.%u.destroy", arena_);
    mallctl(cmd, nullptr, nullptr, nullptr, 0);
    throw std::runtime_error("lua: cannot create the Lua state of " + name_);
  }
  lua_atpanic(L_, on_panic);
  // The interpreter only: count hooks do not run inside compiled traces, and
  // the hard stop needs them (Debian's LuaJIT has no CHECKHOOK).
  luaJIT_setmode(L_, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  // A capped VM collects earlier than LuaJIT's default pause of 200%.
  lua_gc(L_, LUA_GCSETPAUSE, 120);
}

Vm::~Vm() {
  watch_->retired.store(true, std::memory_order_release);
  if (L_ != nullptr) lua_close(L_);
  if (arena_made_) {
    char cmd[64];
    std::snprintf(cmd, sizeof(cmd), "arena.%u.destroy", arena_);
    mallctl(cmd, nullptr, nullptr, nullptr, 0);
  }
}

void* Vm::alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  Vm* vm = static_cast<Vm*>(ud);
  const int flags = arena_flags(vm->arena_);
  const uint64_t used = vm->used_.load(std::memory_order_relaxed);
  if (nsize == 0) {
    if (ptr != nullptr) {
      dallocx(ptr, flags);
      vm->used_.store(used - osize, std::memory_order_relaxed);
    }
    return nullptr;
  }
  const size_t old = ptr != nullptr ? osize : 0;
  if (nsize > old && used + (nsize - old) > vm->hard_limit_) {
    vm->alloc_failed_ = true;
    return nullptr;  // LuaJIT raises "not enough memory" in the running call
  }
  void* p = ptr != nullptr ? rallocx(ptr, nsize, flags) : mallocx(nsize, flags);
  if (p == nullptr) {
    vm->alloc_failed_ = true;
    return nullptr;
  }
  const uint64_t now = used - old + nsize;
  vm->used_.store(now, std::memory_order_relaxed);
  if (now > vm->peak_) vm->peak_ = now;
  return p;
}

bool Vm::collect_if_needed() {
  const uint64_t u = used();
  // Past 70% of the cap, and grown by 1/16 of it since the last full
  // collection: a VM that really holds 70% live data does not collect at
  // every burst.
  if (u * 10 < limit_ * 7 || u < after_gc_ + limit_ / 16) return false;
  full_collect();
  return true;
}

void Vm::full_collect() {
  lua_gc(L_, LUA_GCCOLLECT, 0);
  after_gc_ = used();
}

void Vm::bind_thread() {
  watch_->thread = pthread_self();
  if (pthread_getcpuclockid(watch_->thread, &watch_->cpu_clock) != 0) {
    watch_->cpu_clock = CLOCK_THREAD_CPUTIME_ID;
  }
  watch_->bound.store(true, std::memory_order_release);
}

void Vm::begin_limited(uint32_t cpu_ms) {
  begin_call();
  deadline_ns_ = thread_cpu_ns() + uint64_t{cpu_ms} * 1'000'000u;
  armed_ = 1;
  // Every 4096 instructions: cheap at load, fine-grained enough for a limit
  // counted in milliseconds.
  lua_sethook(L_, &Vm::hook, LUA_MASKCOUNT, 4096);
}

void Vm::end_limited() {
  deadline_ns_ = 0;
  end_call();
}

void Vm::disarm() {
  armed_ = 0;
  lua_sethook(L_, nullptr, 0, 0);
}

void Vm::on_interrupt_signal() {
  Vm* vm = running_;
  if (vm == nullptr) return;
  const uint64_t seq = vm->watch_->seq.load(std::memory_order_relaxed);
  if ((seq & 1) == 0 || vm->watch_->stop_seq.load(std::memory_order_relaxed) != seq) return;
  vm->armed_ = 1;
  // lua_sethook is the one LuaJIT call made to be used from a signal handler.
  lua_sethook(vm->L_, &Vm::hook, LUA_MASKCOUNT, 1);
}

bool Vm::stop_due() const {
  if (stopping_) return true;
  if (!armed_) return false;
  if (deadline_ns_ != 0) return thread_cpu_ns() >= deadline_ns_;
  return watch_->stop_seq.load(std::memory_order_relaxed) ==
         watch_->seq.load(std::memory_order_relaxed);
}

void Vm::raise_stop(lua_State* L, int level) {
  if (!stopping_) {
    stopping_ = true;
    lua_Debug ar;
    stop_where_.clear();
    if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      stop_where_ = std::string(ar.short_src) + ":" + std::to_string(ar.currentline) + ":";
    }
  }
  // From now on every instruction raises again, so that nothing the script
  // does on the way out (a __gc, a handler) runs for long.
  lua_sethook(L, &Vm::hook, LUA_MASKCOUNT, 1);
  lua_pushlightuserdata(L, const_cast<void*>(stop_sentinel()));
  lua_error(L);
  __builtin_unreachable();
}

void Vm::hook(lua_State* L, lua_Debug*) {
  Vm* vm = running_;
  if (vm == nullptr) {
    lua_sethook(L, nullptr, 0, 0);
    return;
  }
  if (vm->stopping_) vm->raise_stop(L);
  if (vm->deadline_ns_ != 0) {
    if (thread_cpu_ns() < vm->deadline_ns_) return;
    vm->raise_stop(L);
  }
  const uint64_t seq = vm->watch_->seq.load(std::memory_order_relaxed);
  if (vm->watch_->stop_seq.load(std::memory_order_relaxed) != seq) {
    vm->disarm();  // the call the watchdog judged has ended
    return;
  }
  vm->raise_stop(L);
}

}  // namespace loupe
