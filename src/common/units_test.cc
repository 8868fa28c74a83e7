#include "common/units.h"

#include <gtest/gtest.h>

namespace gpuslice {
namespace {

std::int64_t Mib(std::string_view s) {
  const Result<MiB> r = ParseMemory(s);
  EXPECT_TRUE(r.has_value()) << s << ": " << (r ? "" : r.error().message);
  return r ? r->value() : -1;
}

TEST(ParseMemoryTest, BinaryUnits) {
  EXPECT_EQ(Mib("20GiB"), 20480);
  EXPECT_EQ(Mib("20 GiB"), 20480);
  EXPECT_EQ(Mib("20g"), 20480);
  EXPECT_EQ(Mib("512MiB"), 512);
  EXPECT_EQ(Mib("512"), 512);
  EXPECT_EQ(Mib("1.5TiB"), 1572864);
  EXPECT_EQ(Mib("9.625GiB"), 9856);
}

TEST(ParseMemoryTest, DecimalUnitsRoundUpToWholeMiB) {
  EXPECT_EQ(Mib("1GB"), 954);  // 1e9 B = 953.67 MiB -> 954
  EXPECT_EQ(Mib("20gb"), 19074);
  EXPECT_EQ(Mib("1B"), 1);
  EXPECT_EQ(Mib("0"), 0);
}

TEST(ParseMemoryTest, RejectsGarbageWithTheText) {
  for (const char* bad :
       {"", "GiB", "-1GiB", "20 parsecs", "1e9", "12345678901234567890", "99999999999TiB", "1..5GiB"}) {
    const Result<MiB> r = ParseMemory(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

TEST(FormatMemoryTest, RoundsLikeNvidiaSmiPrintf) {
  // Values nvidia-smi -lgip prints, from the catalog's MiB (multiples of 64 MiB).
  EXPECT_EQ(FormatMemory(MiB(9856)), "9.62 GiB");    // 9.625: tie, to even
  EXPECT_EQ(FormatMemory(MiB(11968)), "11.69 GiB");  // 11.6875
  EXPECT_EQ(FormatMemory(MiB(24000)), "23.44 GiB");  // 23.4375
  EXPECT_EQ(FormatMemory(MiB(47488)), "46.38 GiB");  // 46.375: tie, to even
  EXPECT_EQ(FormatMemory(MiB(40192)), "39.25 GiB");
  EXPECT_EQ(FormatMemory(MiB(0)), "0.00 GiB");
  EXPECT_EQ(FormatMemory(MiB(-2048)), "-2.00 GiB");
}

TEST(FormatMemoryTest, RoundUpNeverUnderstates) {
  EXPECT_EQ(FormatMemory(MiB(40193), Rounding::kUp), "39.26 GiB");
  EXPECT_EQ(FormatMemory(MiB(40192), Rounding::kUp), "39.25 GiB");
}

TEST(QuantityTest, ArithmeticStaysInUnit) {
  MilliGpu a(143);
  a += MilliGpu(857);
  EXPECT_EQ(a, MilliGpu(1000));
  EXPECT_LT(MiB(1), MiB(2));
}

}  // namespace
}  // namespace gpuslice
