// Pre-checks for untrusted YAML, run before yaml-cpp 0.7 sees the text.
//
// yaml-cpp parses by recursive descent, one stack frame (or several) per nesting level, and 0.7
// has known hangs (YAML::LoadAll on "," never returns: jbeder/yaml-cpp#1040). Every parser of
// untrusted YAML in gpuslice (mig-parted configs, simulator cluster files) calls CheckYamlShape
// and then CheckOneYamlDocument before YAML::Load, and bounds alias expansion in its own walk.
//
// Thread-safety: plain functions over values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gpuslice::mig {

// Limits of the shape check. A GPU-Operator catalogue is ~30 KiB, nested 5 levels and indented
// at most ~12 columns; a cluster file is shallower still. These leave wide margins while
// bounding what yaml-cpp can be made to do.
inline constexpr std::size_t kMaxYamlInputBytes = 1 << 20;
inline constexpr int kMaxYamlFlowDepth = 32;      // net '[' / '{' nesting, counted anywhere
inline constexpr int kMaxYamlIndentColumns = 40;  // leading blanks plus compact "- " / "? "

// Refuses text over 1 MiB, with a NUL byte, with brackets nested deeper than kMaxYamlFlowDepth
// or lines indented deeper than kMaxYamlIndentColumns. `what` names the document in messages
// ("mig-parted config" -> "a mig-parted config never needs more than 40"). kInvalidArgument
// with the line number.
Result<void> CheckYamlShape(std::string_view text, std::string_view what);

// Refuses a second YAML document (kInvalidArgument with its line), and reports text where
// yaml-cpp would report an empty document at the same place forever as the unreadable text it
// is. May throw YAML::Exception for malformed YAML; callers catch it where they catch
// YAML::Load's.
Result<void> CheckOneYamlDocument(const std::string& text);

}  // namespace gpuslice::mig
