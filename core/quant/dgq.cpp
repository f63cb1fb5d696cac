// SPDX-License-Identifier: MIT
#include "quant/dgq.h"

#include "quant/fake_quant.h"
#include "quant/layer_objective.h"

#include <algorithm>
#include <cmath>

namespace qs::core {

const ParamSchema& DgqQuantizer::params() const {
    static const ParamSchema schema{
        {"mult_bits", ParamType::Int, 8, 2, 16, {}, "stored bits of a group's integer scale multiplier",
         "Multiplier bits"},
        {"int8_gemm", ParamType::Bool, true, 1, 0, {},
         "cap multipliers so multiplier * code fits INT8 (one INT8 GEMM per row)", "INT8 GEMM", "no-int8-gemm"},
        {"grid", ParamType::Int, 20, 1, 200, {}, "clipping ratios 1 .. 0.5 tried in both search phases",
         "Search grid"},
        {"search", ParamType::Bool, true, 1, 0, {}, "two-phase grid search (off: naive rounding of the group scales)",
         "Search", "no-search"},
    };
    return schema;
}

namespace {

DgqOptions optionsOf(const nlohmann::json& p) {
    DgqOptions o;
    o.multBits = p.at("mult_bits").get<int>();
    o.int8Gemm = p.at("int8_gemm").get<bool>();
    o.grid = p.at("grid").get<int>();
    o.search = p.at("search").get<bool>();
    return o;
}

// Largest multiplier: what multBits can store, and with int8Gemm what keeps m * |q - z| <= 127.
int maxMultiplier(const QuantSpec& spec, const DgqOptions& opt) {
    const int k = formatTraits(spec.format).elementBits;
    const int span = spec.symmetric ? (1 << (k - 1)) - (spec.fullRange ? 0 : 1) : (1 << k) - 1;
    int m = (1 << opt.multBits) - 1;
    if (opt.int8Gemm) m = std::min(m, 127 / span);
    if (m < 1)
        throw Error("dgq: int" + std::to_string(k) + (spec.symmetric ? " sym" : " asym") +
                    " codes do not fit INT8 after any multiplier; use int4 or --no-int8-gemm");
    return m;
}

void checkSpec(const QuantSpec& spec) {
    const FormatTraits& f = formatTraits(spec.format);
    if (f.kind != FormatKind::Integer || f.fixedBlock != 0)
        throw Error("dgq needs an integer format (int2..int8), not " + std::string(f.name));
    if (spec.granularity != Granularity::Group)
        throw Error("dgq quantizes in groups along the input: use --granularity group");
}

// One row: group scales, the coarse scale and the multipliers.
struct RowSolver {
    const FormatTraits& f;
    ElementOptions o;
    const Eigen::MatrixXd& h;
    const float* w;
    std::int64_t cols, gs, groups;
    int maxM, zeroMax;
    std::vector<float> q;
    std::vector<double> err;

    // Quantizes group g with scale S (zero point from the group's min, GPTQ's convention).
    float quantGroup(std::int64_t g, float scale, float* dst) const {
        const std::int64_t c0 = g * gs, n = std::min(gs, cols - c0);
        float zero = 0;
        if (!o.symmetric) {
            const float lo = std::min(0.0f, rangeOf(w + c0, static_cast<std::size_t>(n)).min);
            zero = std::clamp(std::nearbyint(-lo / scale), 0.0f, static_cast<float>(zeroMax));
        }
        f.apply(f, w + c0, dst, static_cast<std::size_t>(n), {scale, zero}, o);
        return zero;
    }
    double groupError(std::int64_t g, const float* qg, double* e) const {
        const std::int64_t c0 = g * gs, n = std::min(gs, cols - c0);
        for (std::int64_t j = 0; j < n; ++j) e[j] = static_cast<double>(w[c0 + j]) - qg[j];
        const Eigen::Map<const Eigen::VectorXd> v(e, n);
        return v.dot(h.block(c0, c0, n, n) * v);
    }
    int multiplierFor(double ideal, float sc) const {
        return static_cast<int>(std::clamp<double>(std::nearbyint(ideal / sc), 1.0, maxM));
    }
};

} // namespace

double dgqTotalBits(const QuantSpec& spec, const DgqOptions& opt, std::int64_t rows, std::int64_t cols) {
    const int k = formatTraits(spec.format).elementBits;
    const std::int64_t gs = std::min<std::int64_t>(spec.groupSize, cols);
    const double groups = static_cast<double>(rows) * static_cast<double>((cols + gs - 1) / gs);
    return static_cast<double>(rows) * static_cast<double>(cols) * k +
           groups * (opt.multBits + (spec.symmetric ? 0 : k)) + static_cast<double>(rows) * 16.0;
}

DgqResult dgqQuantize(const WeightMatrix& w, const QuantSpec& spec, const DgqOptions& opt, float* out,
                      const JobContext& job) {
    checkSpec(spec);
    const Eigen::MatrixXd& xtx = requireXtx(w.input, w.cols, "dgq");
    const FormatTraits& f = formatTraits(spec.format);
    const std::int64_t rows = w.rows, cols = w.cols, gs = std::min<std::int64_t>(spec.groupSize, cols);
    DgqResult res;
    res.maxMultiplier = maxMultiplier(spec, opt);
    res.groups = (cols + gs - 1) / gs;
    res.channelScale.assign(rows, 0.0f);
    res.multiplier.assign(rows * res.groups, 1);
    res.zero.assign(rows * res.groups, 0.0f);
    const RangeStats whole = rangeOf(w.data, static_cast<std::size_t>(rows * cols));
    const ElementOptions o{spec.symmetric, spec.fullRange};
    std::vector<double> ratios;
    for (int i = 0; i < opt.grid; ++i) ratios.push_back(1.0 - 0.5 * i / opt.grid);
    job.checkCancel();

#pragma omp parallel
    {
        RowSolver s{f, o, xtx, nullptr, cols, gs, res.groups, res.maxMultiplier, (1 << f.elementBits) - 1, {}, {}};
        s.q.resize(cols);
        s.err.resize(cols);
        std::vector<double> ideal(res.groups), cand(gs);
        std::vector<int> m(res.groups), bestM(res.groups);
        std::vector<float> qg(gs);
#pragma omp for schedule(dynamic, 4)
        for (std::int64_t r = 0; r < rows; ++r) {
            s.w = w.data + r * cols;
            double top = 0;
            for (std::int64_t g = 0; g < res.groups; ++g) {
                const std::int64_t c0 = g * gs, n = std::min(gs, cols - c0);
                ideal[g] = f.fit(f, rangeOf(s.w + c0, static_cast<std::size_t>(n)), whole, o).scale;
                top = std::max(top, ideal[g]);
            }
            auto quantRow = [&](float sc, const std::vector<int>& mult, float* dst, float* zeros) {
                for (std::int64_t g = 0; g < res.groups; ++g) {
                    const float z = s.quantGroup(g, sc * static_cast<float>(mult[g]), dst + g * gs);
                    if (zeros) zeros[g] = z;
                }
            };
            // Naive split: ratio 1 (the widest group gets the largest multiplier), rounded multipliers.
            const float sc0 = static_cast<float>(top / res.maxMultiplier);
            for (std::int64_t g = 0; g < res.groups; ++g) m[g] = s.multiplierFor(ideal[g], sc0);
            float sc = sc0;
            bestM = m;
            if (opt.search) {
                // Phase 1: the coarse channel scale over the ratio grid, on the per-group (block-diagonal) error.
                double bestObj = -1;
                for (double ratio : ratios) {
                    const float c = static_cast<float>(ratio * top / res.maxMultiplier);
                    for (std::int64_t g = 0; g < res.groups; ++g) m[g] = s.multiplierFor(ideal[g], c);
                    quantRow(c, m, s.q.data(), nullptr);
                    double obj = 0;
                    for (std::int64_t g = 0; g < res.groups; ++g) obj += s.groupError(g, s.q.data() + g * gs, cand.data());
                    if (bestObj < 0 || obj < bestObj) bestObj = obj, sc = c, bestM = m;
                }
                // Phase 2: each group's multiplier over the ratio grid (plus the unclipped ceil), exact row error.
                quantRow(sc, bestM, s.q.data(), nullptr);
                for (std::int64_t j = 0; j < cols; ++j) s.err[j] = static_cast<double>(s.w[j]) - s.q[j];
                RowObjective obj(xtx, s.err.data(), cols);
                for (std::int64_t g = 0; g < res.groups; ++g) {
                    const std::int64_t c0 = g * gs, n = std::min(gs, cols - c0);
                    std::vector<int> tried{bestM[g]};
                    auto consider = [&](int cm) {
                        if (std::find(tried.begin(), tried.end(), cm) != tried.end()) return;
                        tried.push_back(cm);
                        s.quantGroup(g, sc * static_cast<float>(cm), qg.data());
                        for (std::int64_t j = 0; j < n; ++j) cand[j] = static_cast<double>(s.w[c0 + j]) - qg[j];
                        if (obj.delta(c0, n, cand.data()) < 0) {
                            obj.commit(c0, n, cand.data());
                            bestM[g] = cm;
                        }
                    };
                    for (double ratio : ratios) consider(s.multiplierFor(ratio * ideal[g], sc));
                    consider(static_cast<int>(std::clamp<double>(std::ceil(ideal[g] / sc), 1.0, res.maxMultiplier)));
                }
                // Guard: phase 1 ranked ratios on the block-diagonal error; never end worse than the naive split.
                std::vector<int> naive(res.groups);
                for (std::int64_t g = 0; g < res.groups; ++g) naive[g] = s.multiplierFor(ideal[g], sc0);
                quantRow(sc0, naive, s.q.data(), nullptr);
                for (std::int64_t j = 0; j < cols; ++j) s.err[j] = static_cast<double>(s.w[j]) - s.q[j];
                const Eigen::Map<const Eigen::VectorXd> e(s.err.data(), cols);
                if (e.dot(xtx * e) <= obj.value()) sc = sc0, bestM = naive;
            }
            res.channelScale[r] = sc;
            std::copy(bestM.begin(), bestM.end(), res.multiplier.begin() + r * res.groups);
            quantRow(sc, bestM, out + r * cols, res.zero.data() + r * res.groups);
        }
    }
    res.objective = layerOutputError(w.data, out, rows, cols, xtx);
    return res;
}

void DgqQuantizer::quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                            const JobContext& job) const {
    dgqQuantize(w, spec, optionsOf(params), out, job);
}

double DgqQuantizer::bitsPerWeight(const QuantSpec& spec, const nlohmann::json& params, std::int64_t rows,
                                   std::int64_t cols) const {
    const DgqOptions opt = optionsOf(validateParams(this->params(), params, "method dgq"));
    return dgqTotalBits(spec, opt, rows, cols) / (static_cast<double>(rows) * static_cast<double>(cols));
}

} // namespace qs::core
