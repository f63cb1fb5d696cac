// SPDX-License-Identifier: MIT
#include "quant/awq.h"

#include "quant/fake_quant.h"
#include "quant/layer_objective.h"

#include <algorithm>
#include <cmath>

namespace qs::core {

const ParamSchema& AwqQuantizer::params() const {
    static const ParamSchema schema{
        {"grid", ParamType::Int, 20, 1, 1000, {}, "alpha candidates i/(grid-1) in [0, 1] for s = absMean^alpha",
         "Alpha grid"},
        {"alpha", ParamType::Float, -1.0, -1, 1, {}, "fixed alpha in [0, 1] (negative: grid search)", "Alpha"},
        {"clip", ParamType::Bool, true, 1, 0, {}, "search a clipping ratio per scale run after the scale search",
         "Clip search", "no-clip"},
    };
    return schema;
}

namespace {

// s = max(absMean^alpha, 1e-4), normalised by sqrt(max * min) as the reference does (alpha 0: all ones).
std::vector<double> channelScales(const std::vector<double>& absMean, double alpha) {
    std::vector<double> s(absMean.size());
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = std::max(std::pow(std::max(absMean[i], 0.0), alpha), 1e-4);
    const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
    const double norm = std::sqrt(*lo * *hi);
    for (double& v : s) v /= norm;
    return s;
}

// W' = Q(W diag(s)) diag(s)^-1 into out; ws receives W diag(s).
void scaledQuantize(const WeightMatrix& w, const QuantSpec& spec, const std::vector<double>& s,
                    std::vector<float>& ws, float* out) {
    const std::int64_t rows = w.rows, cols = w.cols;
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c)
            ws[r * cols + c] = static_cast<float>(w.data[r * cols + c] * s[c]);
    fakeQuantize(ws.data(), rows, cols, spec, out);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) out[r * cols + c] = static_cast<float>(out[r * cols + c] / s[c]);
}

// Per row and run: shrink the run's range by 1, 0.95, ..., 0.55 (AWQ's auto_clip grid) and keep the
// candidate that lowers the whole row's output error most (the current one stays if none does).
void clipSearch(const WeightMatrix& w, const QuantSpec& spec, const std::vector<double>& s,
                const std::vector<float>& ws, const Eigen::MatrixXd& xtx, float* out) {
    const FormatTraits& f = formatTraits(spec.format);
    const ElementOptions o{spec.symmetric, spec.fullRange};
    const std::int64_t rows = w.rows, cols = w.cols, run = spec.runLength(cols);
    const RangeStats whole = rangeOf(ws.data(), ws.size());
#pragma omp parallel
    {
        std::vector<double> err(cols), cand(run);
        std::vector<float> q(run);
#pragma omp for schedule(dynamic, 4)
        for (std::int64_t r = 0; r < rows; ++r) {
            const float* wr = w.data + r * cols;
            const float* wsr = ws.data() + r * cols;
            float* outr = out + r * cols;
            for (std::int64_t c = 0; c < cols; ++c) err[c] = static_cast<double>(wr[c]) - outr[c];
            RowObjective obj(xtx, err.data(), cols);
            for (std::int64_t c0 = 0; c0 < cols; c0 += run) {
                const std::int64_t n = std::min(run, cols - c0);
                const RangeStats full = rangeOf(wsr + c0, static_cast<std::size_t>(n));
                double best = 0;
                std::vector<float> bestQ;
                for (int i = 0; i < 10; ++i) {
                    const float p = 1.0f - 0.05f * static_cast<float>(i);
                    const ScaleParams sp = f.fit(f, {full.min * p, full.max * p, full.amax * p}, whole, o);
                    f.apply(f, wsr + c0, q.data(), static_cast<std::size_t>(n), sp, o);
                    for (std::int64_t j = 0; j < n; ++j) {
                        q[j] = static_cast<float>(q[j] / s[c0 + j]);
                        cand[j] = static_cast<double>(wr[c0 + j]) - q[j];
                    }
                    const double d = obj.delta(c0, n, cand.data());
                    if (d < best) best = d, bestQ.assign(q.begin(), q.begin() + n);
                }
                if (bestQ.empty()) continue;
                for (std::int64_t j = 0; j < n; ++j) {
                    outr[c0 + j] = bestQ[j];
                    cand[j] = static_cast<double>(wr[c0 + j]) - bestQ[j];
                }
                obj.commit(c0, n, cand.data());
            }
        }
    }
}

} // namespace

AwqResult awqQuantize(const WeightMatrix& w, const QuantSpec& spec, const AwqOptions& opt, float* out,
                      const JobContext& job) {
    const Eigen::MatrixXd& xtx = requireXtx(w.input, w.cols, "awq");
    if (static_cast<std::int64_t>(w.input->absMean.size()) != w.cols)
        throw Error("awq needs the per-channel mean |x| of the layer input (calibration statistics)");
    const std::size_t n = static_cast<std::size_t>(w.rows * w.cols);
    std::vector<float> ws(n), cand(n);
    AwqResult res;

    std::vector<double> alphas;
    if (opt.alpha >= 0) alphas = {opt.alpha};
    else
        for (int i = 0; i < opt.grid; ++i) alphas.push_back(opt.grid == 1 ? 0.0 : double(i) / (opt.grid - 1));
    double best = 0;
    for (std::size_t i = 0; i < alphas.size(); ++i) {
        job.checkCancel();
        const std::vector<double> s = channelScales(w.input->absMean, alphas[i]);
        scaledQuantize(w, spec, s, ws, cand.data());
        const double e = layerOutputError(w.data, cand.data(), w.rows, w.cols, xtx);
        if (opt.alpha < 0) res.alphaObjective.push_back(e);
        if (i == 0 || e < best) { // ties keep the smaller alpha
            best = e;
            res.alpha = alphas[i];
            res.scales = s;
            std::copy(cand.begin(), cand.end(), out);
        }
    }
    res.objectiveBeforeClip = res.objective = best;

    const bool runs = spec.granularity != Granularity::Tensor || formatTraits(spec.format).fixedBlock != 0;
    if (opt.clip && runs) {
        job.checkCancel();
        for (std::int64_t r = 0; r < w.rows; ++r)
            for (std::int64_t c = 0; c < w.cols; ++c)
                ws[r * w.cols + c] = static_cast<float>(w.data[r * w.cols + c] * res.scales[c]);
        clipSearch(w, spec, res.scales, ws, xtx, out);
        res.objective = layerOutputError(w.data, out, w.rows, w.cols, xtx);
    }
    return res;
}

void AwqQuantizer::quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                            const JobContext& job) const {
    AwqOptions opt;
    opt.grid = params.at("grid").get<int>();
    opt.alpha = params.at("alpha").get<double>();
    opt.clip = params.at("clip").get<bool>();
    awqQuantize(w, spec, opt, out, job);
}

} // namespace qs::core
