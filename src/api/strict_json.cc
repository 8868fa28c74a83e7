#include "api/strict_json.h"

#include <set>

namespace gpuslice::api {
namespace {

Result<void> CheckDepth(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return Fail(ErrorCode::kInvalidArgument, "JSON nests deeper than {} levels", max_depth);
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return {};
}

}  // namespace

Result<nlohmann::json> ReadStrictJson(std::string_view text, std::size_t max_bytes, std::size_t max_depth) {
  if (text.size() > max_bytes) {
    return Fail(ErrorCode::kInvalidArgument, "document of {} bytes exceeds the limit of {} bytes",
                text.size(), max_bytes);
  }
  if (auto r = CheckDepth(text, max_depth); !r) return Fail(r.error());
  // Depth is bounded above, so every object_start has its object_end: the callback never
  // discards, which would suppress the matching end event.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const nlohmann::json::parser_callback_t callback = [&](int, nlohmann::json::parse_event_t event,
                                                         nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == nlohmann::json::parse_event_t::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == nlohmann::json::parse_event_t::key && !open_objects.empty() && parsed.is_string()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "not valid JSON");
  if (!duplicate.empty()) return Fail(ErrorCode::kInvalidArgument, "duplicate key '{}'", duplicate);
  return j;
}

}  // namespace gpuslice::api
