// SPDX-License-Identifier: MIT
#include "fixture_paths.h"

#include "io/array_source.h"
#include "io/hdf5_file.h"
#include "base/error.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace qs::core;

namespace {

template <class F> std::string errorOf(F f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(Hdf5File, RoundTrip) {
    const auto p = qs::test::outputDir("hdf5_roundtrip") / "store.h5";
    std::vector<float> big(3000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = 0.5f * static_cast<float>(i) - 7.0f;
    {
        Hdf5File h(p, Hdf5File::Mode::Truncate);
        h.writeF32("calib/layer0/xtx", {30, 100}, big.data()); // 12 KB: chunked + gzip
        const double d[3] = {1.0 / 3.0, -2.5, 1e300};
        h.writeF64("calib/scalars", {3}, d);
        const std::int64_t ids[4] = {-1, 0, 1LL << 40, 7};
        h.writeI64("/ids", {2, 2}, ids);
        h.createGroup("runs/7");
        h.setAttribute("runs/7", "recipe", R"({"format":"int4"})");
        h.setAttribute("/", "created_by", "quantscope");
        h.setAttribute("/ids", "empty", "");
        h.writeF32("calib/scalars", {1}, big.data()); // replaces
    }
    Hdf5File h(p);
    EXPECT_EQ(h.listDatasets(), (std::vector<std::string>{"/calib/layer0/xtx", "/calib/scalars", "/ids"}));
    EXPECT_EQ(h.listDatasets("calib/layer0"), (std::vector<std::string>{"/calib/layer0/xtx"}));
    EXPECT_TRUE(h.exists("runs/7"));
    EXPECT_FALSE(h.exists("runs/8/x"));
    const Tensor x = h.readF32("calib/layer0/xtx", 2);
    EXPECT_EQ(x.shape(), (Shape{30, 100}));
    EXPECT_EQ(x.toFloats(), big);
    EXPECT_EQ(h.readF32("calib/scalars").toFloats(), std::vector<float>{-7.0f});
    const Tensor ids = h.readI64("ids");
    EXPECT_EQ(ids.shape(), (Shape{2, 2}));
    EXPECT_EQ(ids.data<std::int64_t>()[2], 1LL << 40);
    EXPECT_TRUE(h.isInteger("ids"));
    EXPECT_EQ(h.readF32("ids").toFloats()[0], -1.0f); // int -> float conversion
    EXPECT_EQ(h.attribute("runs/7", "recipe"), R"({"format":"int4"})");
    EXPECT_EQ(h.attribute("/", "created_by"), "quantscope");
    EXPECT_EQ(h.attribute("ids", "empty"), "");
    EXPECT_EQ(h.attribute("runs/7", "missing"), std::nullopt);
}

TEST(Hdf5File, ReadWriteReopensAndAdds) {
    const auto p = qs::test::outputDir("hdf5_rw") / "cache.h5";
    const float v[2] = {1, 2};
    Hdf5File(p, Hdf5File::Mode::ReadWrite).writeF32("a", {2}, v);
    Hdf5File(p, Hdf5File::Mode::ReadWrite).writeF32("b", {2}, v);
    EXPECT_EQ(Hdf5File(p).listDatasets(), (std::vector<std::string>{"/a", "/b"}));
}

TEST(Hdf5File, ErrorsNameFileAndDataset) {
    const auto dir = qs::test::outputDir("hdf5_errors");
    const auto h5 = qs::test::fixtures() / "digits-cnn" / "digits.h5";
    const std::string missing = errorOf([&] { Hdf5File(h5).readF32("nope"); });
    EXPECT_NE(missing.find("digits.h5"), std::string::npos) << missing;
    EXPECT_NE(missing.find("nope"), std::string::npos) << missing;
    const std::string rank = errorOf([&] { Hdf5File(h5).readF32("test_y", 2); });
    EXPECT_NE(rank.find("test_y"), std::string::npos) << rank;
    EXPECT_NE(rank.find("rank"), std::string::npos) << rank;
    std::ofstream(dir / "fake.h5") << "not hdf5 at all";
    const std::string fake = errorOf([&] { Hdf5File(dir / "fake.h5"); });
    EXPECT_NE(fake.find("fake.h5"), std::string::npos) << fake;
    EXPECT_NE(fake.find("not an HDF5"), std::string::npos) << fake;
    EXPECT_NE(errorOf([&] { Hdf5File(dir / "absent.h5"); }).find("absent.h5"), std::string::npos);
    EXPECT_NE(errorOf([&] { readArraySpec((dir / "fake.h5").string() + ":x"); }).find("fake.h5"), std::string::npos);
    EXPECT_TRUE(isHdf5Spec("a/b.h5:group/ds"));
    EXPECT_FALSE(isHdf5Spec("x.npy"));
}
