// Rng: seeded pseudo-random numbers (STYLE.md §2).
//
// Every random choice in gpuslice (simulator workload generation, property tests, jitter in
// backoff) draws from an Rng constructed with an explicit seed, which callers log, so any run
// can be reproduced. The engine is std::mt19937_64, whose output sequence for a seed is fixed by
// the C++ standard; the helpers below use only integer arithmetic so results are identical
// across standard libraries (std::uniform_int_distribution is not).
//
// Thread-safety: not thread-safe; give each thread its own Rng (Fork() makes one).
#pragma once

#include <cstdint>
#include <random>

namespace gpuslice {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : seed_(seed), engine_(seed) {}

  std::uint64_t seed() const { return seed_; }

  std::uint64_t Next() { return engine_(); }

  // Uniform integer in [lo, hi] (inclusive); lo > hi returns lo. Unbiased (rejection sampling).
  std::int64_t Uniform(std::int64_t lo, std::int64_t hi) {
    if (hi <= lo) return lo;
    // Unsigned arithmetic: the span of [INT64_MIN, INT64_MAX] does not fit an int64.
    const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + UniformBelowOrEqual(span));
  }

  // True with probability numerator/denominator.
  bool Chance(std::uint64_t numerator, std::uint64_t denominator) {
    if (denominator == 0) return false;
    if (numerator >= denominator) return true;
    return UniformBelowOrEqual(denominator - 1) < numerator;
  }

  // A new independent generator whose seed is drawn from this one.
  Rng Fork() { return Rng(Next()); }

 private:
  // Uniform in [0, max], unbiased.
  std::uint64_t UniformBelowOrEqual(std::uint64_t max) {
    if (max == UINT64_MAX) return Next();
    const std::uint64_t span = max + 1;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    std::uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return x % span;
  }

  std::uint64_t seed_;
  std::mt19937_64 engine_;
};

}  // namespace gpuslice
