// SPDX-License-Identifier: MIT
// Decode GEMV y = W x over each stored weight layout (cost/gemv_kernels.h) at 1 and 2 threads, the
// measurement behind the decode cost model's default efficiencies (measuredDecodeEfficiency) and the
// GPTVQ paper's VQ-vs-INT4 on-device comparison redone on this CPU. Reports GB/s of stored weight bytes
// (bytes_per_second) and GFLOP/s (2 rows cols per GEMV), beside memcpy and a read-only pass over the
// fp16 matrix's bytes (the ceilings). 4096x4096 and 11008x4096 run out of cache, as in decode: each
// iteration takes the next of several copies of the weight spanning >= 256 MiB. 1024x1024 stays in
// cache (the kernels' compute rate). Peer: numpy/PyTorch fp32 mv with OpenBLAS, ../shared/peers/README.md.
#include "cost/gemv_kernels.h"

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace qs::core;

namespace {

constexpr std::int64_t kRotationBytes = std::int64_t{256} << 20;
constexpr std::int64_t kInCacheRows = 1024; // 1024 x 1024 is not rotated

struct Layout {
    std::string name;
    std::function<std::int64_t(const float* w, std::int64_t rows, std::int64_t cols)> pack; ///< -> stored bytes
};

// The weight of the current benchmark (built once, kept across its thread counts and repetitions),
// as `copies` rotated instances: `run(i, x, y, threads)` multiplies by copy i.
struct Prepared {
    std::string key;
    std::int64_t bytes = 0, copies = 1;
    std::function<void(std::int64_t, const float*, float*, int)> run;
};

const std::vector<float>& matrix(std::int64_t rows, std::int64_t cols) {
    static std::map<std::pair<std::int64_t, std::int64_t>, std::vector<float>> cache;
    std::vector<float>& w = cache[{rows, cols}];
    if (w.empty()) {
        w.resize(static_cast<std::size_t>(rows * cols));
        std::mt19937 rng(7);
        std::normal_distribution<float> d(0.0f, 0.02f);
        for (auto& v : w) v = d(rng);
    }
    return w;
}

std::int64_t copiesFor(std::int64_t rows, std::int64_t bytes) {
    if (rows <= kInCacheRows) return 1;
    return std::max<std::int64_t>(1, (kRotationBytes + bytes - 1) / bytes);
}

template <typename Weight, typename Kernel>
void prepareCopies(Prepared& p, Weight w, std::int64_t rows, Kernel kernel) {
    p.bytes = w.storedBytes();
    p.copies = copiesFor(rows, p.bytes);
    auto all = std::make_shared<std::vector<Weight>>(static_cast<std::size_t>(p.copies), std::move(w));
    p.run = [all, kernel](std::int64_t i, const float* x, float* y, int threads) {
        kernel((*all)[static_cast<std::size_t>(i)], x, y, threads);
    };
}

Prepared& prepared(const std::string& layout, std::int64_t rows, std::int64_t cols) {
    static Prepared p;
    const std::string key = layout + "/" + std::to_string(rows) + "x" + std::to_string(cols);
    if (p.key == key) return p;
    p = Prepared{};
    const auto& w = matrix(rows, cols);
    if (layout == "fp32") {
        struct F32 {
            std::vector<float> w;
            std::int64_t rows, cols;
            std::int64_t storedBytes() const { return rows * cols * 4; }
        };
        prepareCopies(p, F32{w, rows, cols}, rows, [](const F32& m, const float* x, float* y, int t) {
            gemvF32(m.w.data(), m.rows, m.cols, x, y, t);
        });
    } else if (layout == "fp16") {
        prepareCopies(p, packFp16(w.data(), rows, cols), rows, gemvFp16);
    } else if (layout.rfind("int4_g", 0) == 0) {
        prepareCopies(p, packInt4(w.data(), rows, cols, std::stoi(layout.substr(6))), rows, gemvInt4);
    } else { // vq_d<dim>_b<bits>[_cb32]: GPTVQ tiles of 256 columns, rows for ~0.125 bpw of fp16 codebook
        GemvVqShape s;
        s.dim = layout[4] - '0';
        s.bitsPerDim = layout[7] - '0';
        s.fp16Codebook = layout.find("_cb32") == std::string::npos;
        s.colsPerCodebook = 256;
        s.rowsPerCodebook = s.entries() * s.dim * 16 * 8 / 256;
        prepareCopies(p, quantizeVq(w.data(), rows, cols, s), rows, gemvVq);
    }
    p.key = key;
    return p;
}

const std::vector<float>& input(std::int64_t cols) {
    static std::vector<float> x;
    if (static_cast<std::int64_t>(x.size()) != cols) {
        x.resize(static_cast<std::size_t>(cols));
        std::mt19937 rng(8);
        std::normal_distribution<float> d(0.0f, 1.0f);
        for (auto& v : x) v = d(rng);
    }
    return x;
}

void setCounters(benchmark::State& state, std::int64_t bytes, std::int64_t rows, std::int64_t cols) {
    state.SetBytesProcessed(state.iterations() * bytes);
    state.counters["GFLOP/s"] =
        benchmark::Counter(2e-9 * static_cast<double>(rows * cols), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["bpw"] = 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols);
    state.counters["copies"] = static_cast<double>(copiesFor(rows, bytes));
}

void gemvBench(benchmark::State& state, const std::string& layout) {
    const std::int64_t rows = state.range(0), cols = state.range(1);
    const int threads = static_cast<int>(state.range(2));
    Prepared& p = prepared(layout, rows, cols);
    const auto& x = input(cols);
    std::vector<float> y(static_cast<std::size_t>(rows));
    std::int64_t i = 0;
    for (auto _ : state) {
        p.run(i, x.data(), y.data(), threads);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
        i = i + 1 == p.copies ? 0 : i + 1;
    }
    setCounters(state, p.bytes, rows, cols);
}

// The ceilings over the fp16 matrix's bytes, rotated like the weights: "memcpy" copies them (bytes_per_second
// counts the source once), "read" sums them as 64-bit words (what a GEMV's weight stream costs at best).
// Threads take equal contiguous parts.
void ceilingBench(benchmark::State& state, bool copy) {
    const std::int64_t rows = state.range(0), cols = state.range(1), bytes = rows * cols * 2;
    const int threads = static_cast<int>(state.range(2));
    const std::int64_t copies = copiesFor(rows, bytes);
    static std::vector<std::vector<std::uint64_t>> src, dst; // kept while the size stays (repetitions)
    if (src.size() != static_cast<std::size_t>(copies) || src[0].size() * 8 != static_cast<std::size_t>(bytes)) {
        src.assign(static_cast<std::size_t>(copies), std::vector<std::uint64_t>(static_cast<std::size_t>(bytes / 8), 1));
        dst.assign(src.size(), std::vector<std::uint64_t>(static_cast<std::size_t>(bytes / 8), 0));
    }
    const std::int64_t words = bytes / 8;
    std::int64_t i = 0;
    std::uint64_t total = 0;
    for (auto _ : state) {
        const std::uint64_t* s = src[static_cast<std::size_t>(i)].data();
        std::uint64_t* d = dst[static_cast<std::size_t>(i)].data();
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            const std::int64_t n = omp_get_num_threads(), t = omp_get_thread_num();
            const std::int64_t begin = words * t / n, end = words * (t + 1) / n;
            if (copy) {
                std::memcpy(d + begin, s + begin, static_cast<std::size_t>(end - begin) * 8);
            } else {
                std::uint64_t sum = 0;
#pragma omp simd reduction(+ : sum)
                for (std::int64_t k = begin; k < end; ++k) sum += s[k];
                total += sum;
            }
        }
        benchmark::DoNotOptimize(total);
        benchmark::ClobberMemory();
        i = i + 1 == copies ? 0 : i + 1;
    }
    setCounters(state, bytes, rows, cols);
}

void addSizes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"rows", "cols", "threads"});
    for (std::int64_t rows : {kInCacheRows, std::int64_t{4096}, std::int64_t{11008}})
        for (int threads : {1, 2}) b->Args({rows, rows == kInCacheRows ? kInCacheRows : 4096, threads});
    // The minimum beside the median: on a shared host it is the repetition least disturbed by others.
    b->Unit(benchmark::kMicrosecond)->UseRealTime()->ComputeStatistics("min", [](const std::vector<double>& v) {
        return *std::min_element(v.begin(), v.end());
    });
}

} // namespace

int main(int argc, char** argv) {
    addSizes(benchmark::RegisterBenchmark("memcpy", ceilingBench, true));
    addSizes(benchmark::RegisterBenchmark("read", ceilingBench, false));
    for (const char* layout : {"fp32", "fp16", "int4_g32", "int4_g128", "vq_d1_b3", "vq_d1_b4", "vq_d1_b6", "vq_d2_b2",
                               "vq_d2_b3", "vq_d4_b2", "vq_d2_b2_cb32"})
        addSizes(benchmark::RegisterBenchmark((std::string("gemv/") + layout).c_str(), gemvBench, std::string(layout)));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
