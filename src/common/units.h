// Integer resource units: MiB of memory and milli-GPU of cost (DESIGN.md §4 "Units").
//
// Accounting in gpuslice is integer-only (STYLE.md §5): memory in MiB, cost in milli-GPU
// (1000 = one whole GPU of a class). Doubles appear only in sort keys. Each unit is a distinct
// type so that MiB and milli-GPU cannot be mixed by accident; arithmetic stays within a unit.
//
// Thread-safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gpuslice {

template <typename Tag>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(std::int64_t value) : value_(value) {}
  constexpr std::int64_t value() const { return value_; }

  friend constexpr auto operator<=>(Quantity, Quantity) = default;
  friend constexpr Quantity operator+(Quantity a, Quantity b) { return Quantity(a.value_ + b.value_); }
  friend constexpr Quantity operator-(Quantity a, Quantity b) { return Quantity(a.value_ - b.value_); }
  constexpr Quantity& operator+=(Quantity o) {
    value_ += o.value_;
    return *this;
  }
  constexpr Quantity& operator-=(Quantity o) {
    value_ -= o.value_;
    return *this;
  }

 private:
  std::int64_t value_ = 0;
};

using MiB = Quantity<struct MiBTag>;
using MilliGpu = Quantity<struct MilliGpuTag>;

// Parses a memory size as people write it: "20GiB", "20 GiB", "20480MiB", "1.5TiB", "20gb",
// "512M". Binary units (KiB, MiB, GiB, TiB; also K/M/G/T and the "B"-less forms) are powers of
// 1024; decimal units (KB, MB, GB, TB) are powers of 1000 as the SI says. A bare number is MiB.
// The result is rounded up to a whole MiB, so a request is never silently made smaller.
// Errors: kInvalidArgument naming the text when it is empty, negative, has an unknown suffix or
// exceeds 1 EiB.
Result<MiB> ParseMemory(std::string_view text);

// "9856 MiB" -> "9.62 GiB"; used in tables for people. Two decimals rounded as nvidia-smi's
// printf("%.2f") rounds (to nearest, ties to even), so catalog figures print as nvidia-smi shows
// them. kUp rounds up instead, for requests: "at least 39.26 GiB" never understates a request.
enum class Rounding { kNearestEven, kUp };
std::string FormatMemory(MiB mib, Rounding rounding = Rounding::kNearestEven);

}  // namespace gpuslice
