// Forward declaration of the schema DSL, for the module headers that declare
// their describe() functions: they name Section<T> without pulling in the DSL
// (std::function, variants) or the YAML library behind the loader.
#pragma once

namespace loupe::config {

template <typename T>
class Section;

}  // namespace loupe::config
