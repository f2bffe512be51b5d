// Reading, writing and documenting any struct that has a schema. Private to
// config/: the rest of the program uses config/loader.h, which applies these
// to loupe::Config. Tests use them on test-only structs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"
#include "config/schema.h"

namespace loupe::config {

// Decodes `text` (YAML; "" is an empty document) onto `object`, which holds
// the defaults, then applies each "key.path=value" override, then runs the
// range and cross-field checks on the result. Returns every problem found,
// sorted by position (file first, then overrides in order); the object is
// only meaningful when none was found. `name` is the file name errors show.
std::vector<ConfigError> read_yaml(const SectionSpec& schema, void* object, std::string_view text,
                                   const std::string& name,
                                   const std::vector<std::string>& overrides);

// Every key of the object, block style, in schema order.
std::string write_yaml(const SectionSpec& schema, const void* object);

// One heading per section (nested sections and lists of sections get their
// own), a table of its keys: path, type, allowed values, default, help.
std::string reference_markdown(const SectionSpec& schema);

template <typename T>
std::vector<ConfigError> read_yaml(T& object, std::string_view text, const std::string& name,
                                   const std::vector<std::string>& overrides = {}) {
  return read_yaml(*schema_of<T>(), &object, text, name, overrides);
}

template <typename T>
std::string write_yaml(const T& object) {
  return write_yaml(*schema_of<T>(), &object);
}

}  // namespace loupe::config
