// SPDX-License-Identifier: MIT
#include "error_text.h"
#include "experiment/builtins.h"
#include "quant/rtn.h"
#include "quant/quant_spec.h"
#include "base/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace qs::core;
using ::testing::HasSubstr;

using qs::test::errorOf;

namespace {
} // namespace

TEST(ParamSchema, DefaultsFillAndRoundTrip) {
    QuantSpec s = QuantSpec::fromJson(nlohmann::json::object());
    EXPECT_EQ(s.format, FormatId::Int4);
    EXPECT_EQ(s.granularity, Granularity::Group);
    EXPECT_EQ(s.groupSize, 128);
    EXPECT_TRUE(s.symmetric);
    QuantSpec t = QuantSpec::fromJson({{"format", "int3"}, {"granularity", "channel"}, {"group", 64}, {"sym", false}});
    QuantSpec u = QuantSpec::fromJson(t.toJson());
    EXPECT_EQ(u.format, FormatId::Int3);
    EXPECT_EQ(u.granularity, Granularity::Channel);
    EXPECT_FALSE(u.symmetric);
    EXPECT_EQ(u.label(), "int3 asym channel");
}

TEST(ParamSchema, BadValuesGiveClearErrors) {
    EXPECT_THAT(errorOf([] { QuantSpec::fromJson({{"format", "int42"}}); }), HasSubstr("one of: int2"));
    EXPECT_THAT(errorOf([] { QuantSpec::fromJson({{"group", 0}}); }), HasSubstr("'group'"));
    EXPECT_THAT(errorOf([] { QuantSpec::fromJson({{"group", "x"}}); }), HasSubstr("integer"));
    EXPECT_THAT(errorOf([] { QuantSpec::fromJson({{"grup", 32}}); }), HasSubstr("unknown parameter 'grup'"));
    EXPECT_THAT(errorOf([] { QuantSpec::fromJson({{"granularity", "block"}}); }), HasSubstr("no fixed block"));
}

TEST(ParamSchema, ParsesCommandLineValues) {
    const auto& schema = quantSpecSchema();
    const auto group = std::find_if(schema.begin(), schema.end(), [](auto& p) { return p.name == "group"; });
    EXPECT_EQ(parseParamValue(*group, "32"), 32);
    EXPECT_THAT(errorOf([&] { parseParamValue(*group, "32x"); }), HasSubstr("expected an integer"));
}

TEST(Registry, BuiltinsHaveRtnAndUnknownNamesListKnownOnes) {
    Registries r;
    registerBuiltins(r);
    ASSERT_NE(r.quantizers.find("rtn"), nullptr);
    EXPECT_FALSE(r.quantizers.find("rtn")->needsCalibration());
    EXPECT_THAT(errorOf([&] { r.quantizers.get("gptqq", "method"); }), HasSubstr("known: rtn"));
    EXPECT_THROW(r.quantizers.add(std::make_unique<RtnQuantizer>()), Error);
}
