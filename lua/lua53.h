// Private to lua/: the Lua 5.3 source translator of contract §9.3. It reads
// a chunk with Lua 5.3's grammar and rewrites the operators LuaJIT lacks
// (`&`, `|`, binary and unary `~`, `<<`, `>>`, `//`) into calls of the
// helpers lua/bind_lua53.cc puts in every environment, keeping 5.3's
// precedence and associativity. Everything else of the text stays as it
// was, byte for byte, and every token stays on its line, so LuaJIT's own
// errors and tracebacks name the user's lines.
#pragma once

#include <string>
#include <string_view>

namespace loupe {

// Names of the helpers a translated chunk calls. Translated text binds the
// ones it uses as locals in front of its first token (same line), so a call
// costs an upvalue read, not a global lookup.
inline constexpr const char* kLua53Helpers[] = {"__band", "__bor", "__bxor", "__bnot",
                                                "__shl",  "__shr", "__idiv"};

struct Lua53Translation {
  enum class Status { kUnchanged, kTranslated, kError };
  Status status = Status::kUnchanged;
  std::string text;   // the LuaJIT source, when kTranslated
  std::string error;  // "<path>:<line>: <message>", when kError
};

// True when `source` holds one of the 5.3 operators outside strings and
// comments. A chunk the lexer cannot read is left to LuaJIT (false), unless
// an operator came before the unreadable part.
bool lua53_needs_translation(std::string_view source);

// Translates `source`; `path` only names the chunk in errors. A chunk
// without 5.3 operators is kUnchanged (the caller keeps its own text), as
// is one whose problems LuaJIT reports better (an unreadable token before
// any 5.3 operator). A syntax error found while parsing a chunk with 5.3
// operators is kError, worded as Lua's parser words it.
Lua53Translation translate_lua53(std::string_view source, std::string_view path);

// What the loaders compile: `*code` is `source` itself, or its translation
// held in `*storage`. False with `*err` set on a 5.3 syntax error.
bool lua53_prepare(std::string_view source, std::string_view path, std::string* storage,
                   std::string_view* code, std::string* err);

}  // namespace loupe
