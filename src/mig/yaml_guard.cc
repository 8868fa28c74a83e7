// The shape check and the one-document check shared by gpuslice's YAML parsers.
#include "mig/yaml_guard.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace gpuslice::mig {
namespace {

// Effective indentation of a line: leading blanks (a tab counted as 8) plus every compact block
// indicator ("- ", "? ", ": ") that opens a nested collection on the same line. Block nesting
// needs strictly growing indentation (a sequence under a key may share its column), so nesting
// depth <= 2 * (effective indentation + 1).
int EffectiveIndent(std::string_view line) {
  int col = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    const bool indicator = (c == '-' || c == '?' || c == ':') &&
                           (i + 1 == line.size() || line[i + 1] == ' ' || line[i + 1] == '\t');
    if (c == '\t') {
      col += 8;
    } else if (c == ' ' || indicator) {
      col += 1;
    } else {
      break;
    }
    ++i;
  }
  return col;
}

// Records where each document starts; ignores everything else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}
};

}  // namespace

// Brackets are counted everywhere, quotes and comments included: a lexer that skipped them
// could be fooled into under-counting, and no real file has dozens of unmatched brackets in its
// comments.
Result<void> CheckYamlShape(std::string_view text, std::string_view what) {
  if (text.size() > kMaxYamlInputBytes) {
    return Fail(ErrorCode::kInvalidArgument, "{} is {} bytes; at most {} (1 MiB) are accepted", what,
                text.size(), kMaxYamlInputBytes);
  }
  int flow = 0;
  int line_no = 1;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    if (line.find('\0') != std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: NUL byte in a {}", line_no, what);
    }
    if (const int indent = EffectiveIndent(line); indent > kMaxYamlIndentColumns) {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: nested {} columns deep; a {} never needs more than {}", line_no, indent, what,
                  kMaxYamlIndentColumns);
    }
    for (const char c : line) {
      if (c == '[' || c == '{') {
        if (++flow > kMaxYamlFlowDepth) {
          return Fail(ErrorCode::kInvalidArgument,
                      "line {}: brackets nested more than {} deep; a {} never needs that", line_no,
                      kMaxYamlFlowDepth, what);
        }
      } else if ((c == ']' || c == '}') && flow > 0) {
        --flow;
      }
    }
    pos = end + 1;
    ++line_no;
  }
  return {};
}

// Documents are counted with the low-level parser, two at most, because yaml-cpp 0.7's own
// YAML::LoadAll never returns on input such as "," (it reports an empty document at the same
// place forever, allocating each time: jbeder/yaml-cpp#1040, fixed upstream by #1319); a
// "second" document that starts where the first did is reported as the unreadable text it is.
Result<void> CheckOneYamlDocument(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts docs;
  if (!parser.HandleNextDocument(docs) || !parser.HandleNextDocument(docs) || docs.starts.size() < 2)
    return {};
  const YAML::Mark& second = docs.starts[1];
  if (second.pos <= docs.starts[0].pos) {
    const std::size_t at = static_cast<std::size_t>(std::max(second.pos, 0));
    return Fail(ErrorCode::kInvalidArgument, "line {}, column {}: invalid YAML: unexpected '{}'",
                second.line + 1, second.column + 1,
                at < text.size() ? text.substr(at, 1) : std::string("end of input"));
  }
  return Fail(ErrorCode::kInvalidArgument, "line {}: expected one YAML document, found a second one",
              second.line + 1);
}

}  // namespace gpuslice::mig
