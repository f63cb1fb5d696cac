// SPDX-License-Identifier: MIT
// y = x·Wᵀ as the forward pass computes it (tensor/gemm.h; also held to AVX2, and with W in BF16 or int8
// codes times scales; and on bf16 operands, tensor/gemm_bf16.h) beside Eigen's GEMM on the same operands:
// GFLOP/s (items = flops) for the fixture's shapes (a 128-token window, hidden 192, MLP 512), a
// Llama of hidden 2048 (one window, and 8 windows batched) and its vocabulary head, GPTQ's lazy batch
// update (k = its block of 128), 1 and 2 threads.
// The peer for plain SGEMM is OpenBLAS through PyTorch (bench/peers, ../shared/peers/README.md).
#include "base/process.h"
#include "formats/minifloat.h"
#include "tensor/avx512.h"
#include "tensor/gemm.h"
#include "tensor/gemm_bf16.h"
#include "tensor/half.h"

#include <Eigen/Dense>
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

using namespace qs::core;

namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatrixF random(std::int64_t rows, std::int64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    RowMatrixF m(rows, cols);
    for (std::int64_t i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
    return m;
}

// range: threads, m, n, k. `product(x, w, y)` computes y = x·wᵀ.
template <class Product>
void timeProduct(benchmark::State& state, const Product& product) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const std::int64_t m = state.range(1), n = state.range(2), k = state.range(3);
    const RowMatrixF x = random(m, k, 1), w = random(n, k, 2);
    RowMatrixF y(m, n);
    for (auto _ : state) {
        product(x, w, y);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetItemsProcessed(state.iterations() * 2 * m * n * k);
}

void BM_GemmNT(benchmark::State& state) {
    timeProduct(state, [](const RowMatrixF& x, const RowMatrixF& w, RowMatrixF& y) {
        gemmNT({x.data(), x.rows(), x.cols(), x.cols()}, {w.data(), w.rows(), w.cols(), w.cols()},
               {y.data(), y.rows(), y.cols(), y.cols()});
    });
}

// The same product held to AVX2 (where the processor has AVX-512, the default runs 32 columns at a time).
void BM_GemmNTAvx2(benchmark::State& state) {
    const bool saved = allowAvx512(false);
    BM_GemmNT(state);
    allowAvx512(saved);
}

// The weight held in BF16 and converted while packed (no float32 copy): the cost of reading a BF16
// model's weights as they are stored.
void BM_GemmNTBf16(benchmark::State& state) {
    std::vector<std::uint16_t> half;
    timeProduct(state, [&half](const RowMatrixF& x, const RowMatrixF& w, RowMatrixF& y) {
        if (half.empty())
            for (std::int64_t i = 0; i < w.size(); ++i) half.push_back(f32ToBf16(w.data()[i]));
        gemmNT({x.data(), x.rows(), x.cols(), x.cols()}, CompactMatrixView{CompactMatrixView::Kind::Bf16, half.data(), w.rows(), w.cols(), w.cols()},
               {y.data(), y.rows(), y.cols(), y.cols()});
    });
}

// The weight held as one-byte codes (`code` of each value) times a scale per 32 values along each row,
// converted while packed: int8 codes, or indices into a code book's `table`.
template <typename Code>
void timeCodes(benchmark::State& state, CompactMatrixView::Kind kind, const float* table, const Code& code, float scale,
               MiniFloatLayout miniFloat = {}) {
    std::vector<std::int8_t> codes;
    std::vector<float> scales;
    timeProduct(state, [&](const RowMatrixF& x, const RowMatrixF& w, RowMatrixF& y) {
        const std::int64_t runs = (w.cols() + 31) / 32;
        if (codes.empty()) {
            for (std::int64_t i = 0; i < w.size(); ++i) codes.push_back(code(w.data()[i]));
            scales.assign(static_cast<std::size_t>(w.rows() * runs), scale);
        }
        CompactMatrixView v{kind, codes.data(), w.rows(), w.cols(), w.cols(), scales.data(), table};
        v.runCols = 32;
        v.miniFloat = miniFloat;
        v.scaleRowStep = runs;
        v.scaleColStep = 1;
        gemmNT({x.data(), x.rows(), x.cols(), x.cols()}, v, {y.data(), y.rows(), y.cols(), y.cols()});
    });
}

// A quantized Linear on an integer grid.
void BM_GemmNTInt8(benchmark::State& state) {
    timeCodes(
        state, CompactMatrixView::Kind::ScaledInt8, nullptr,
        [](float x) { return static_cast<std::int8_t>(std::clamp(std::nearbyint(x * 16.0f), -127.0f, 127.0f)); }, 1.0f / 16.0f);
}

// A quantized Linear in a 16-value code book (NF4's values).
void BM_GemmNTCodeBook(benchmark::State& state) {
    static const float table[CompactMatrixView::kCodeBookSize] = {-1.0f,    -0.6962f, -0.5251f, -0.3949f, -0.2844f, -0.1848f,
                                                                  -0.0911f, 0.0f,     0.0796f,  0.1609f,  0.2461f,  0.3379f,
                                                                  0.4407f,  0.5626f,  0.7230f,  1.0f};
    timeCodes(
        state, CompactMatrixView::Kind::CodeBook, table,
        [](float x) { return static_cast<std::int8_t>(std::clamp(std::nearbyint(x * 4.0f) + 7.0f, 0.0f, 15.0f)); }, 0.5f);
}

// A quantized Linear in FP8 E4M3 codes (the bytes of each value's E4M3 rounding; any byte decodes).
void BM_GemmNTMiniFloat(benchmark::State& state) {
    timeCodes(
        state, CompactMatrixView::Kind::ScaledMiniFloat, nullptr,
        [](float x) { return static_cast<std::int8_t>(encodeMiniFloat(roundMiniFloatOne(x * 64.0f, minifloat::kE4M3), minifloat::kE4M3)); },
        1.0f / 64.0f, MiniFloatLayout{4, 3, 7});
}

// bf16 operands with float32 sums (eval --compute bf16): the weight packed once, outside the timing, as
// the forward pass packs it when the hooks are set; A rounded in each product. AMX tiles where present.
void BM_Bf16Products(benchmark::State& state) {
    std::optional<Bf16Panels> panels;
    timeProduct(state, [&panels](const RowMatrixF& x, const RowMatrixF& w, RowMatrixF& y) {
        if (!panels) panels = Bf16Panels::fromRows({w.data(), w.rows(), w.cols(), w.cols()});
        gemmBf16({x.data(), x.rows(), x.cols(), x.cols()}, *panels, {y.data(), y.rows(), y.cols(), y.cols()});
    });
    state.SetLabel(bf16TilesAvailable() ? "AMX tiles" : "float32 products of rounded operands");
}

void BM_EigenGemm(benchmark::State& state) {
    timeProduct(state, [](const RowMatrixF& x, const RowMatrixF& w, RowMatrixF& y) { y.noalias() = x * w.transpose(); });
}

} // namespace

int main(int argc, char** argv) {
    configureProcess(argv);
    for (auto* b : {benchmark::RegisterBenchmark("BM_GemmNT", BM_GemmNT), benchmark::RegisterBenchmark("BM_GemmNTAvx2", BM_GemmNTAvx2),
                    benchmark::RegisterBenchmark("BM_GemmNTBf16", BM_GemmNTBf16), benchmark::RegisterBenchmark("BM_GemmNTInt8", BM_GemmNTInt8),
                    benchmark::RegisterBenchmark("BM_GemmNTCodeBook", BM_GemmNTCodeBook),
                    benchmark::RegisterBenchmark("BM_GemmNTMiniFloat", BM_GemmNTMiniFloat),
                    benchmark::RegisterBenchmark("BM_Bf16Products", BM_Bf16Products),
                    benchmark::RegisterBenchmark("BM_EigenGemm", BM_EigenGemm)})
        for (int threads : {1, 2})
            b->Args({threads, 128, 192, 192})
                ->Args({threads, 128, 512, 192})
                ->Args({threads, 128, 192, 512})
                ->Args({threads, 128, 2048, 2048})
                ->Args({threads, 1024, 2048, 2048})
                ->Args({threads, 128, 5632, 2048})
                ->Args({threads, 128, 2048, 5632})
                ->Args({threads, 4096, 2048, 128}) // GPTQ's lazy batch update
                ->ArgNames({"threads", "m", "n", "k"})
                ->UseRealTime();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
