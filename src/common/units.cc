#include "common/units.h"

#include <fmt/format.h>

#include <cctype>

namespace gpuslice {
namespace {

// Exact intermediate products (up to 10^18 * 2^40) need 128 bits; a GCC/Clang extension.
__extension__ typedef unsigned __int128 U128;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Bytes per unit for a suffix, or 0 when the suffix is unknown.
U128 BytesPerUnit(std::string_view suffix) {
  const std::string s = Lower(suffix);
  constexpr U128 kKi = 1024;
  if (s.empty() || s == "m" || s == "mi" || s == "mib") return kKi * kKi;
  if (s == "b") return 1;
  if (s == "k" || s == "ki" || s == "kib") return kKi;
  if (s == "g" || s == "gi" || s == "gib") return kKi * kKi * kKi;
  if (s == "t" || s == "ti" || s == "tib") return kKi * kKi * kKi * kKi;
  constexpr U128 kK = 1000;
  if (s == "kb") return kK;
  if (s == "mb") return kK * kK;
  if (s == "gb") return kK * kK * kK;
  if (s == "tb") return kK * kK * kK * kK;
  return 0;
}

}  // namespace

Result<MiB> ParseMemory(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  // Mantissa as an exact rational digits / 10^scale; at most 18 significant digits.
  U128 digits = 0;
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
  const U128 unit = BytesPerUnit(suffix);
  if (unit == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "memory size '{}' has unknown unit '{}' (use KiB, MiB, GiB, TiB, or KB, MB, GB, TB)", text,
                suffix);
  }
  U128 divisor = 1;
  for (int k = 0; k < scale; ++k) divisor *= 10;
  constexpr U128 kMiB = U128{1024} * 1024;
  // ceil(digits * unit / divisor / MiB), exactly.
  const U128 bytes_num = digits * unit;
  const U128 den = divisor * kMiB;
  const U128 mib = (bytes_num + den - 1) / den;
  constexpr U128 kMaxMiB = static_cast<U128>(1) << 40;  // 1 EiB
  if (mib > kMaxMiB) return Fail(ErrorCode::kInvalidArgument, "memory size '{}' is too large", text);
  return MiB(static_cast<std::int64_t>(mib));
}

std::string FormatMemory(MiB mib, Rounding rounding) {
  const bool negative = mib.value() < 0;
  const std::uint64_t v =
      negative ? 0 - static_cast<std::uint64_t>(mib.value()) : static_cast<std::uint64_t>(mib.value());
  // hundredths of GiB = v * 100 / 1024, rounded.
  std::uint64_t q = v * 100 / 1024;
  const std::uint64_t r = v * 100 % 1024;
  if (rounding == Rounding::kUp) {
    q += (r != 0 && !negative) ? 1 : 0;
  } else if (2 * r > 1024 || (2 * r == 1024 && q % 2 == 1)) {
    ++q;
  }
  return fmt::format("{}{}.{:02} GiB", negative && q != 0 ? "-" : "", q / 100, q % 100);
}

}  // namespace gpuslice
