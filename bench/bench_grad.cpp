// SPDX-License-Identifier: MIT
// One forward+backward pass (the gradient of the loss for every weight) over 64 windows of 128 tokens
// on the fixture, and on the model in $QS_BENCH_GRAD_MODEL (e.g. a ~100M-parameter synthetic Llama
// from bench/make_synthetic_llama.py, its tokens.npy the data), at 1 and 2 threads; and one
// Hessian-vector product (dual numbers) on the fixture. Peer: bench/peers/grad_torch.py (PyTorch
// autograd, same protocol, batches of 8 windows).
#include "base/process.h"
#include "io/npy.h"
#include "model/model.h"
#include "nn/causal_lm_grad.h"

#include <benchmark/benchmark.h>
#include <cstdlib>
#include <filesystem>
#include <omp.h>
#include <vector>

using namespace qs::core;

namespace {

struct Subject {
    std::unique_ptr<Model> model;
    std::unique_ptr<CausalLm> lm;
    std::vector<std::int32_t> tokens;
    std::vector<std::span<const std::int32_t>> windows;

    Subject(const std::filesystem::path& dir, const std::filesystem::path& tokenFile) {
        model = openModel(dir);
        lm = std::make_unique<CausalLm>(*model);
        const Tensor t = readNpy(tokenFile);
        for (std::int64_t i = 0; i < std::min<std::int64_t>(t.numel(), 64 * 128); ++i)
            tokens.push_back(t.dtype() == DType::I64 ? static_cast<std::int32_t>(t.data<std::int64_t>()[i])
                                                     : t.data<std::int32_t>()[i]);
        for (std::size_t w = 0; w + 128 <= tokens.size(); w += 128) windows.emplace_back(tokens.data() + w, 128);
    }
};

const Subject& fixture() {
    static const std::filesystem::path dir = std::filesystem::path(QS_FIXTURES_DIR) / "tinyllama-bpe512";
    static const Subject s(dir, dir / "ref_test_tokens.npy");
    return s;
}

const Subject* external() {
    static const std::unique_ptr<Subject> s = []() -> std::unique_ptr<Subject> {
        const char* dir = std::getenv("QS_BENCH_GRAD_MODEL");
        if (!dir || !*dir) return nullptr;
        return std::make_unique<Subject>(dir, std::filesystem::path(dir) / "tokens.npy");
    }();
    return s.get();
}

void runGradient(benchmark::State& state, const Subject& s) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    double loss = 0;
    std::size_t bytes = 0;
    for (auto _ : state) {
        const LossGradient g = lossGradient(*s.lm, s.windows, 1, {.batchTokens = 1024});
        loss = g.loss;
        bytes = g.peakActivationBytes;
        benchmark::DoNotOptimize(g.gradients.data()); // not the double: this library's "+r,m" asm garbles doubles under GCC 12
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.windows.size() * 128));
    state.counters["loss"] = loss;
    state.counters["activation_MiB"] = static_cast<double>(bytes) / (1 << 20);
}

void BM_GradientFixture(benchmark::State& state) { runGradient(state, fixture()); }

void BM_GradientExternal(benchmark::State& state) {
    if (!external()) {
        state.SkipWithError("set QS_BENCH_GRAD_MODEL to a model directory with tokens.npy");
        return;
    }
    runGradient(state, *external());
}

void BM_HessianVectorFixture(benchmark::State& state) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const Subject& s = fixture();
    WeightDirection v;
    for (const DifferentiableWeight& w : differentiableWeights(*s.lm)) v[w.name].assign(static_cast<std::size_t>(w.size), 1e-3f);
    for (auto _ : state) {
        const DirectionalCurvature c = curvatureAlong(*s.lm, s.windows, 1, v, false, {.batchTokens = 1024});
        benchmark::DoNotOptimize(c.curvature);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.windows.size() * 128));
}

} // namespace

int main(int argc, char** argv) {
    configureProcess(argv);
    for (auto* b : {benchmark::RegisterBenchmark("BM_GradientFixture", BM_GradientFixture),
                    benchmark::RegisterBenchmark("BM_GradientExternal", BM_GradientExternal),
                    benchmark::RegisterBenchmark("BM_HessianVectorFixture", BM_HessianVectorFixture)})
        b->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
