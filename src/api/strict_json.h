// Strict JSON for documents that cross a trust boundary (HTTP bodies, agent reports, desired
// states): bounded size and depth, duplicate keys rejected, and a decoder that checks types,
// required and unknown fields and reports the path of the first offending field
// ("workloads[2].argv: expected an array of strings"). Nothing here throws or asserts on input.
//
// Thread-safety: plain functions; a JsonDecoder is used by one thread.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace gpuslice::api {

// Parses `text` (at most max_bytes, nesting at most max_depth). kInvalidArgument for oversized,
// too deep or malformed text and for an object with a duplicate key.
Result<nlohmann::json> ReadStrictJson(std::string_view text, std::size_t max_bytes, std::size_t max_depth);

inline std::string JoinPath(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}
inline std::string AtIndex(std::string_view path, std::size_t i) {
  return fmt::format("{}[{}]", path, i);
}
inline std::string WherePath(std::string_view path) {
  return path.empty() ? "document" : std::string(path);
}

// Decoding: types, required and unknown fields. The first error wins; later reads are no-ops.
// Value rules (names, ranges, sizes, references) belong to the caller's validators, so that
// documents built in code and documents parsed from text obey the same rules.
// Decoding: types, required and unknown fields. The first error wins; later reads are no-ops.
// Value rules (names, ranges, sizes, references) are checked afterwards by the validators, so
// that documents built in code and documents parsed from text obey the same rules.

class JsonDecoder {
 public:
  bool ok() const { return !error_; }
  Error TakeError() { return std::move(*error_); }

  template <typename... Args>
  void Fail(fmt::format_string<Args...> format, Args&&... args) {
    if (!error_)
      error_ = Error{ErrorCode::kInvalidArgument, fmt::format(format, std::forward<Args>(args)...)};
  }

  // Checks that `j` is an object whose keys are all in `fields`.
  bool Object(const nlohmann::json& j, std::string_view path,
              std::initializer_list<std::string_view> fields) {
    if (!ok()) return false;
    if (!j.is_object()) {
      Fail("{}: expected an object", WherePath(path));
      return false;
    }
    for (const auto& item : j.items()) {
      if (std::find(fields.begin(), fields.end(), item.key()) == fields.end()) {
        Fail("{}: unknown field", JoinPath(path, item.key()));
        return false;
      }
    }
    return true;
  }

  // The member `key` of object `j`: nullptr when absent or null (a missing required field is an
  // error).
  const nlohmann::json* Member(const nlohmann::json& j, std::string_view path, std::string_view key,
                               bool required) {
    if (!ok()) return nullptr;
    const auto it = j.find(std::string(key));
    if (it == j.end() || it->is_null()) {
      if (required) Fail("{}: required field is missing", JoinPath(path, key));
      return nullptr;
    }
    return &*it;
  }

  void String(const nlohmann::json& j, std::string_view path, std::string_view key, std::string* out,
              bool required = true) {
    const nlohmann::json* v = Member(j, path, key, required);
    if (v == nullptr) return;
    if (!v->is_string()) return Fail("{}: expected a string", JoinPath(path, key));
    *out = v->get<std::string>();
  }

  void OptString(const nlohmann::json& j, std::string_view path, std::string_view key,
                 std::optional<std::string>* out) {
    if (Member(j, path, key, false) == nullptr) return;
    String(j, path, key, &out->emplace());
  }

  void Bool(const nlohmann::json& j, std::string_view path, std::string_view key, bool* out) {
    const nlohmann::json* v = Member(j, path, key, true);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Fail("{}: expected true or false", JoinPath(path, key));
    *out = v->get<bool>();
  }

  // Any integer in [lo, hi]; ranges narrower than the type's are the validators' business.
  template <typename T>
  void Int(const nlohmann::json& j, std::string_view path, std::string_view key, T* out,
           bool required = true) {
    const nlohmann::json* v = Member(j, path, key, required);
    if (v == nullptr) return;
    const std::string where = JoinPath(path, key);
    if (!v->is_number_integer()) return Fail("{}: expected an integer", where);
    if (v->is_number_unsigned()) {
      const auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
        return Fail("{}: {} is too large", where, u);
      }
      *out = static_cast<T>(u);
      return;
    }
    const auto s = v->get<std::int64_t>();
    if (s < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        (s > 0 &&
         static_cast<std::uint64_t>(s) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
      return Fail("{}: {} is out of range", where, s);
    }
    *out = static_cast<T>(s);
  }

  template <typename T>
  void OptInt(const nlohmann::json& j, std::string_view path, std::string_view key, std::optional<T>* out) {
    if (Member(j, path, key, false) == nullptr) return;
    Int(j, path, key, &out->emplace());
  }

  template <typename Table, typename E>
  void Enum(const nlohmann::json& j, std::string_view path, std::string_view key, const Table& table, E* out,
            bool required) {
    const nlohmann::json* v = Member(j, path, key, required);
    if (v == nullptr) return;
    if (v->is_string()) {
      const auto& s = v->get_ref<const std::string&>();
      for (const auto& [e, name] : table) {
        if (name == s) {
          *out = e;
          return;
        }
      }
    }
    std::vector<std::string_view> names;
    for (const auto& entry : table) names.push_back(entry.second);
    Fail("{}: expected one of {}", JoinPath(path, key), fmt::join(names, ", "));
  }

  void StringArray(const nlohmann::json& j, std::string_view path, std::string_view key, std::size_t max,
                   std::vector<std::string>* out) {
    const nlohmann::json* v = Member(j, path, key, true);
    if (v == nullptr) return;
    const std::string where = JoinPath(path, key);
    if (!v->is_array()) return Fail("{}: expected an array of strings", where);
    if (!Fits(where, v->size(), max)) return;
    for (std::size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) return Fail("{}: expected an array of strings", where);
      out->push_back((*v)[i].get<std::string>());
    }
  }

  void StringMap(const nlohmann::json& j, std::string_view path, std::string_view key, std::size_t max,
                 std::map<std::string, std::string>* out) {
    const nlohmann::json* v = Member(j, path, key, false);
    if (v == nullptr) return;
    const std::string where = JoinPath(path, key);
    if (!v->is_object()) return Fail("{}: expected an object of strings", where);
    if (!Fits(where, v->size(), max)) return;
    for (const auto& item : v->items()) {
      if (!item.value().is_string()) return Fail("{}: expected a string", JoinPath(where, item.key()));
      (*out)[item.key()] = item.value().get<std::string>();
    }
  }

  // Decodes each element of array `key` with `element(decoder, value, path, out)`.
  template <typename T, typename F>
  void Array(const nlohmann::json& j, std::string_view path, std::string_view key, std::size_t max,
             std::vector<T>* out, F&& element) {
    const nlohmann::json* v = Member(j, path, key, false);
    if (v == nullptr) return;
    const std::string where = JoinPath(path, key);
    if (!v->is_array()) return Fail("{}: expected an array", where);
    if (!Fits(where, v->size(), max)) return;
    for (std::size_t i = 0; i < v->size() && ok(); ++i)
      element(*this, (*v)[i], AtIndex(where, i), &out->emplace_back());
  }

 private:
  // Counts are bounded while decoding, before anything is copied out of the DOM.
  bool Fits(std::string_view where, std::size_t n, std::size_t max) {
    if (n <= max) return true;
    Fail("{}: {} entries exceed the limit of {}", where, n, max);
    return false;
  }

  std::optional<Error> error_;
};

}  // namespace gpuslice::api
