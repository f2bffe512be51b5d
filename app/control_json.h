// The JSON of the control socket: a small value tree that the server builds
// its answers in and that the CLI reads them back into, with a writer and a
// strict, depth-bounded reader. Objects keep their members in insertion
// order, so answers read in the order they were built. Integers are kept
// exactly (64-bit counters pass 2^53); other numbers as doubles.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loupe {

class Json {
 public:
  enum class Type : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;  // null
  Json(bool b) : type_(Type::kBool), bool_(b) {}
  Json(double d) : type_(Type::kNumber), double_(d) {}
  Json(uint64_t u) : type_(Type::kNumber), integral_(true), uint_(u), double_(static_cast<double>(u)) {}
  Json(uint32_t u) : Json(uint64_t{u}) {}
  Json(int i) : Json(i >= 0 ? Json(uint64_t(i)) : Json(static_cast<double>(i))) {}
  Json(std::string s) : type_(Type::kString), string_(std::move(s)) {}
  Json(const char* s) : Json(std::string(s)) {}

  static Json array() { return Json(Type::kArray); }
  static Json object() { return Json(Type::kObject); }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_number() const { return type_ == Type::kNumber; }

  // Values of the wrong type read as false, 0 and "".
  bool as_bool() const { return type_ == Type::kBool && bool_; }
  double as_double() const { return type_ == Type::kNumber ? double_ : 0; }
  // An integer as written; a non-integral or negative number truncated to 0.
  uint64_t as_uint() const;
  const std::string& as_string() const;

  // Objects. set() replaces a member of the same name or appends one.
  Json& set(const std::string& key, Json value);
  const Json* find(std::string_view key) const;  // null when absent or not an object
  // The member's value, or a null value when absent.
  const Json& operator[](std::string_view key) const;
  const std::vector<std::string>& keys() const { return keys_; }

  // Arrays (and an object's values, in the order of keys()).
  void push(Json value) { items_.push_back(std::move(value)); }
  const std::vector<Json>& items() const { return items_; }
  size_t size() const { return items_.size(); }

  // Compact JSON, one line. Strings are written as UTF-8; bytes that are not
  // valid UTF-8 become U+FFFD, so the text is always valid JSON.
  std::string dump() const;
  void dump_to(std::string& out) const;

  // Parses one JSON value (surrounding blanks allowed). Nesting deeper than
  // 64 levels is refused. On failure: nullopt, and `error` says where.
  static std::optional<Json> parse(std::string_view text, std::string* error = nullptr);

 private:
  explicit Json(Type t) : type_(t) {}

  Type type_ = Type::kNull;
  bool bool_ = false;
  bool integral_ = false;  // a non-negative integer, exact in uint_
  uint64_t uint_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<std::string> keys_;  // objects: member names
  std::vector<Json> items_;        // arrays: items; objects: values
};

}  // namespace loupe
