#include "common/units.h"

#include <fmt/format.h>

#include <cctype>

namespace gpuslice {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Bytes per unit for a suffix, or 0 when the suffix is unknown.
unsigned __int128 BytesPerUnit(std::string_view suffix) {
  const std::string s = Lower(suffix);
  constexpr unsigned __int128 kKi = 1024;
  if (s.empty() || s == "m" || s == "mi" || s == "mib") return kKi * kKi;
  if (s == "b") return 1;
  if (s == "k" || s == "ki" || s == "kib") return kKi;
  if (s == "g" || s == "gi" || s == "gib") return kKi * kKi * kKi;
  if (s == "t" || s == "ti" || s == "tib") return kKi * kKi * kKi * kKi;
  if (s == "kb") return 1000;
  if (s == "mb") return 1000 * 1000;
  if (s == "gb") return 1000ull * 1000 * 1000;
  if (s == "tb") return 1000ull * 1000 * 1000 * 1000;
  return 0;
}

}  // namespace

Result<MiB> ParseMemory(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  // Mantissa as an exact rational digits / 10^scale; at most 18 significant digits.
  unsigned __int128 digits = 0;
  int scale = 0;
  int ndigits = 0;
  bool seen_point = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' && !seen_point) {
      seen_point = true;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    if (++ndigits > 18)
      return Fail(ErrorCode::kInvalidArgument, "memory size '{}' has too many digits", text);
    digits = digits * 10 + static_cast<unsigned>(c - '0');
    if (seen_point) ++scale;
  }
  if (ndigits == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "memory size '{}' must start with a number, as in 20GiB or 512MiB", text);
  }
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::size_t end = text.size();
  while (end > i && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  const std::string_view suffix = text.substr(i, end - i);
  const unsigned __int128 unit = BytesPerUnit(suffix);
  if (unit == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "memory size '{}' has unknown unit '{}' (use KiB, MiB, GiB, TiB, or KB, MB, GB, TB)", text,
                suffix);
  }
  unsigned __int128 divisor = 1;
  for (int k = 0; k < scale; ++k) divisor *= 10;
  constexpr unsigned __int128 kMiB = 1024 * 1024;
  // ceil(digits * unit / divisor / MiB), exactly.
  const unsigned __int128 bytes_num = digits * unit;
  const unsigned __int128 den = divisor * kMiB;
  const unsigned __int128 mib = (bytes_num + den - 1) / den;
  constexpr unsigned __int128 kMaxMiB = static_cast<unsigned __int128>(1) << 40;  // 1 EiB
  if (mib > kMaxMiB) return Fail(ErrorCode::kInvalidArgument, "memory size '{}' is too large", text);
  return MiB(static_cast<std::int64_t>(mib));
}

std::string FormatMemory(MiB mib) {
  const std::int64_t hundredths = mib.value() * 100 / 1024;
  return fmt::format("{}.{:02} GiB", hundredths / 100, hundredths % 100);
}

}  // namespace gpuslice
