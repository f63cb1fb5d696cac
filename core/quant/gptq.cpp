// SPDX-License-Identifier: MIT
#include "quant/gptq.h"

#include "quant/fake_quant.h"
#include "base/error.h"
#include "base/process.h"
#include "tensor/cholesky.h"
#include "tensor/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <numeric>
#include <omp.h>
#include <string>
#include <vector>

namespace qs::core {
namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// U = upper Cholesky factor of H^-1 (H^-1 = U^T U). With J the reversal, chol(J H J) = L' gives
// H = V V^T for the upper V = J L' J, so H^-1 = V^-T V^-1 and U = V^-1: one Cholesky and one
// triangular inverse instead of torch's cholesky + cholesky_inverse + cholesky.
RowMatrixF upperCholeskyOfInverse(RowMatrixF a, std::string_view name, double damp) {
    const std::int64_t n = a.rows();
    // J H J in place: element (i, j) goes to (n-1-i, n-1-j), which reverses the row-major buffer.
    std::reverse(a.data(), a.data() + a.size());
    if (!choleskyLower({a.data(), n, n, n}))
        throw Error("GPTQ: the Hessian of '" + std::string(name) + "' is not positive definite after dampening " +
                    std::to_string(damp) + " (try a larger --damp or more calibration data)");
    // V = J L' J in place, the same reversal: L' (lower) becomes V (upper).
    std::reverse(a.data(), a.data() + a.size());
    RowMatrixF u(n, n);
    invertUpper({a.data(), n, n, n}, {u.data(), n, n, n});
    if (!u.allFinite())
        throw Error("GPTQ: the inverse Hessian of '" + std::string(name) + "' is not finite (try a larger --damp)");
    return u;
}

// Rows whose column loops run interleaved: their blocks' columns (128 x 4 bytes each) stay in L2.
constexpr std::int64_t kRowChunk = 256;

// What one column block needs in the hot loop: its format, runs and the parameters fitted up front.
struct BlockPlan {
    std::int64_t begin = 0, end = 0;   // columns [begin, end), the same in original and permuted order
    QuantSpec spec;
    const FormatTraits* f = nullptr;
    ElementOptions eo;
    std::int64_t run = 0, groups = 0;  // elements per scale; scales per row (1 per tensor)
    std::int64_t groupOffset = 0;      // index of the block's first group among a row's groups
    bool perTensor = false, needScratch = false;
    RangeStats whole;                  // the block's original range (two-level formats' tensor scale)
    ScaleParams tensorParams;
    std::vector<ScaleParams> staticParams; // [rows, groups], static_groups only
};

// GPTQ's Hessian of `w`'s calibration input; Error naming the weight when there is none that fits.
std::vector<float> hessianOf(const WeightMatrix& w) {
    if (!w.input)
        throw Error("gptq: '" + std::string(w.name) + "' has no calibration statistics (give --calib FILE)");
    if (w.input->features != w.cols)
        throw Error("gptq: calibration statistics of '" + std::string(w.name) + "' have " +
                    std::to_string(w.input->features) + " features, the weight " + std::to_string(w.cols) + " columns");
    return w.input->hessianF32();
}

} // namespace

GptqOptions GptqOptions::fromJson(const nlohmann::json& p) {
    GptqOptions o;
    o.damp = p.value("damp", o.damp);
    o.block = p.value("block", o.block);
    o.actOrder = p.value("act_order", o.actOrder);
    o.staticGroups = p.value("static_groups", o.staticGroups);
    o.groupParams = p.value("group_params", std::string("current")) == "block_start" ? GptqGroupParams::BlockStart
                                                                                      : GptqGroupParams::Current;
    return o;
}

void gptqQuantize(const float* w, std::int64_t rows, std::int64_t cols, const float* hessian, const QuantSpec& spec,
                  const GptqOptions& opt, float* out, const JobContext& job, std::string_view name,
                  std::vector<ScaleParams>* groupParams) {
    const GptqColumnBlock whole{cols, spec};
    gptqQuantizeBlocks(w, rows, cols, hessian, {&whole, 1}, opt, out, job, name, groupParams);
}

void gptqQuantizeBlocks(const float* w, std::int64_t rows, std::int64_t cols, const float* hessian,
                        std::span<const GptqColumnBlock> blocks, const GptqOptions& opt, float* out,
                        const JobContext& job, std::string_view name, std::vector<ScaleParams>* groupParams) {
    if (rows <= 0 || cols <= 0) return;
    if (opt.block < 1) throw Error("GPTQ: block must be >= 1");
    retainFreedMemory(); // the batch updates' temporaries come and go: keep their pages
    RowMatrixF W = Eigen::Map<const RowMatrixF>(w, rows, cols);
    RowMatrixF H = Eigen::Map<const RowMatrixF>(hessian, cols, cols);
    // Dead inputs (never active in the calibration data): nothing to compensate, weights irrelevant.
    for (std::int64_t i = 0; i < cols; ++i)
        if (H(i, i) == 0.0f) {
            H(i, i) = 1.0f;
            W.col(i).setZero();
        }

    std::vector<BlockPlan> plans;
    std::vector<std::uint32_t> blockOf(static_cast<std::size_t>(cols)); // column -> its plan
    std::int64_t begin = 0, totalGroups = 0;
    for (const GptqColumnBlock& b : blocks) {
        if (b.columns < 0 || begin + b.columns > cols)
            throw Error("GPTQ: column blocks of '" + std::string(name) + "' do not fit its " + std::to_string(cols) +
                        " columns");
        if (b.columns == 0) continue;
        BlockPlan p;
        p.begin = begin;
        p.end = begin + b.columns;
        p.spec = b.spec;
        p.f = &formatTraits(b.spec.format);
        p.eo = {b.spec.symmetric, b.spec.fullRange};
        p.run = b.spec.runLength(b.columns);
        p.perTensor = b.spec.granularity == Granularity::Tensor && !p.f->fixedBlock;
        p.groups = p.perTensor ? 1 : (b.columns + p.run - 1) / p.run;
        p.groupOffset = totalGroups;
        p.needScratch = b.spec.scaleRule != ScaleRule::MinMax;
        // The block of the original matrix's range (a copy makes a narrower block contiguous).
        if (b.columns == cols) {
            p.whole = rangeOf(w, static_cast<std::size_t>(rows * cols));
        } else {
            RowMatrixF original(rows, b.columns);
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t c = 0; c < b.columns; ++c) original(r, c) = w[r * cols + begin + c];
            p.whole = rangeOf(original.data(), static_cast<std::size_t>(original.size()));
        }
        if (p.perTensor) {
            const RowMatrixF live = W.middleCols(begin, b.columns); // dead columns zeroed, as GPTQ sees them
            std::vector<float> scratch(p.needScratch ? static_cast<std::size_t>(live.size()) : 0);
            p.tensorParams =
                fitRun(*p.f, p.spec, live.data(), static_cast<std::size_t>(live.size()), p.whole, scratch.data());
        } else if (opt.staticGroups) {
            // Static groups: every group's parameters from the original weights, in the original column order.
            p.staticParams.resize(static_cast<std::size_t>(rows * p.groups));
            std::vector<float> scratch(p.needScratch ? static_cast<std::size_t>(p.run) : 0);
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t g = 0; g < p.groups; ++g)
                    p.staticParams[static_cast<std::size_t>(r * p.groups + g)] =
                        fitRun(*p.f, p.spec, &W(r, begin + g * p.run),
                               static_cast<std::size_t>(std::min(p.run, p.end - begin - g * p.run)), p.whole,
                               scratch.data());
        }
        std::fill(blockOf.begin() + begin, blockOf.begin() + p.end, static_cast<std::uint32_t>(plans.size()));
        totalGroups += p.groups;
        begin = p.end;
        plans.push_back(std::move(p));
    }
    if (begin != cols)
        throw Error("GPTQ: column blocks of '" + std::string(name) + "' cover " + std::to_string(begin) + " of " +
                    std::to_string(cols) + " columns");

    // act_order within each block: the blocks (and so the split) stay where they are.
    std::vector<std::int64_t> perm(static_cast<std::size_t>(cols));
    std::iota(perm.begin(), perm.end(), std::int64_t{0});
    if (opt.actOrder) {
        for (const BlockPlan& p : plans)
            std::stable_sort(perm.begin() + p.begin, perm.begin() + p.end,
                             [&](std::int64_t a, std::int64_t b) { return H(a, a) > H(b, b); });
        RowMatrixF Wp(rows, cols);
        RowMatrixF Hp(cols, cols);
        for (std::int64_t j = 0; j < cols; ++j) Wp.col(j) = W.col(perm[static_cast<std::size_t>(j)]);
        for (std::int64_t i = 0; i < cols; ++i)
            for (std::int64_t j = 0; j < cols; ++j)
                Hp(i, j) = H(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
        W = std::move(Wp);
        H = std::move(Hp);
    }
    const double meanDiag = H.diagonal().cast<double>().mean();
    H.diagonal().array() += static_cast<float>(opt.damp * meanDiag);
    job.checkCancel();
    const RowMatrixF U = upperCholeskyOfInverse(std::move(H), name, opt.damp);
    job.checkCancel();

    const std::int64_t B = opt.block;
    const bool blockStart = opt.groupParams == GptqGroupParams::BlockStart;
    std::int64_t maxRun = 0;
    for (const BlockPlan& p : plans) maxRun = std::max(maxRun, p.run);
    std::atomic<bool> cancelled{false};
    if (groupParams) groupParams->assign(static_cast<std::size_t>(rows * totalGroups), ScaleParams{});

    // Every row is independent given U: each thread runs the whole column loop over its own rows, so
    // the hot loop has no synchronisation at all.
    auto processRows = [&](std::int64_t r0, std::int64_t nr) {
        RowMatrixF err(nr, B), negErr, start;
        std::vector<ScaleParams> params(static_cast<std::size_t>(nr));
        std::vector<float> groupBuf(static_cast<std::size_t>(maxRun)), scratch(static_cast<std::size_t>(maxRun));
        for (std::int64_t i1 = 0; i1 < cols; i1 += B) {
            if (cancelled.load(std::memory_order_relaxed) || (job.cancel && job.cancel->isCancelled())) {
                cancelled = true;
                return;
            }
            const std::int64_t i2 = std::min(i1 + B, cols), nb = i2 - i1;
            if (blockStart) start = W.block(r0, i1, nr, nb);
            // Column by column across a chunk of rows: each row's chain (quantize, error, update the
            // row's next columns) is serial, so neighbouring rows interleave to hide its latency.
            const float* u = U.data();
            for (std::int64_t rc = 0; rc < nr; rc += kRowChunk) {
                const std::int64_t rcEnd = std::min(nr, rc + kRowChunk);
                for (std::int64_t i = i1; i < i2; ++i) {
                    const BlockPlan& bp = plans[blockOf[static_cast<std::size_t>(i)]];
                    const std::int64_t local = i - bp.begin;
                    const bool groupStart = local % bp.run == 0;
                    const std::int64_t rest = i2 - i - 1;
                    for (std::int64_t r = rc; r < rcEnd; ++r) {
                        float* wr = &W(r0 + r, 0);
                        ScaleParams p;
                        if (bp.perTensor) {
                            p = bp.tensorParams;
                        } else if (opt.staticGroups) {
                            p = bp.staticParams[static_cast<std::size_t>(
                                (r0 + r) * bp.groups + (perm[static_cast<std::size_t>(i)] - bp.begin) / bp.run)];
                        } else {
                            if (groupStart) {
                                // The group's current values; columns past this block have not yet received
                                // this block's updates from columns i1..i-1, so add them here.
                                const std::int64_t n = std::min(bp.run, bp.end - i);
                                for (std::int64_t j = i; j < i + n; ++j) {
                                    float v;
                                    if (j < i2) {
                                        v = blockStart ? start(r, j - i1) : wr[j];
                                    } else {
                                        v = wr[j];
                                        if (!blockStart)
                                            for (std::int64_t k = i1; k < i; ++k) v -= err(r, k - i1) * u[k * cols + j];
                                    }
                                    groupBuf[static_cast<std::size_t>(j - i)] = v;
                                }
                                params[static_cast<std::size_t>(r)] =
                                    fitRun(*bp.f, bp.spec, groupBuf.data(), static_cast<std::size_t>(n), bp.whole,
                                           scratch.data());
                            }
                            p = params[static_cast<std::size_t>(r)];
                        }
                        if (groupParams && groupStart) {
                            const std::int64_t g = bp.groupOffset + local / bp.run;
                            (*groupParams)[static_cast<std::size_t>((r0 + r) * totalGroups + g)] = p;
                        }
                        float q;
                        bp.f->apply(*bp.f, &wr[i], &q, 1, p, bp.eo);
                        out[(r0 + r) * cols + perm[static_cast<std::size_t>(i)]] = q;
                        const float e = (wr[i] - q) / u[i * cols + i];
                        err(r, i - i1) = e;
                        Eigen::Map<Eigen::VectorXf>(wr + i + 1, rest) -=
                            e * Eigen::Map<const Eigen::VectorXf>(u + i * cols + i + 1, rest);
                    }
                }
            }
            // Lazy batch update of the columns after the block: W -= err·U, as W + (-err)·U.
            if (i2 < cols) {
                negErr = -err.leftCols(nb);
                gemmNNAccumulate({negErr.data(), nr, nb, nb}, {&U(i1, i2), nb, cols - i2, cols},
                                 {&W(r0, i2), nr, cols - i2, cols});
            }
        }
    };

    // Enough rows per thread for an efficient batch update.
    const std::int64_t threads = std::max<std::int64_t>(1, std::min<std::int64_t>(omp_get_max_threads(), rows / 32));
    if (threads == 1) {
        processRows(0, rows); // the batch updates may then use every thread
    } else {
#pragma omp parallel for num_threads(static_cast<int>(threads)) schedule(static, 1)
        for (std::int64_t t = 0; t < threads; ++t) {
            const std::int64_t r0 = rows * t / threads, r1 = rows * (t + 1) / threads;
            processRows(r0, r1 - r0);
        }
    }
    if (cancelled) throw Cancelled();
}

const ParamSchema& GptqQuantizer::params() const {
    static const ParamSchema schema{
        {"damp", ParamType::Float, 0.01, 0.0, 10.0, {}, "dampening: this fraction of mean(diag H) is added to diag H",
         "Dampening"},
        {"block", ParamType::Int, 128, 1, 1 << 20, {}, "columns per lazy batch update", "Block"},
        {"act_order", ParamType::Bool, false, 1, 0, {}, "quantize columns in order of descending diag(H)",
         "Act order"},
        {"static_groups", ParamType::Bool, false, 1, 0, {},
         "group scales from the original weights (before any update), in the original column order",
         "Static groups"},
        {"group_params", ParamType::Choice, "current", 1, 0, {"current", "block_start"},
         "group scales from the current (updated) weights, or from the block start (IST-DASLab code)",
         "Group params"},
    };
    return schema;
}

void GptqQuantizer::quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                             const JobContext& job) const {
    const std::vector<float> h = hessianOf(w);
    gptqQuantize(w.data, w.rows, w.cols, h.data(), spec, GptqOptions::fromJson(params), out, job, w.name);
}

void GptqQuantizer::quantizeColumnBlocks(const WeightMatrix& w, std::int64_t high, const QuantSpec& highSpec,
                                         const QuantSpec& lowSpec, const nlohmann::json& params, float* out,
                                         const JobContext& job) const {
    const std::vector<float> h = hessianOf(w);
    high = std::clamp<std::int64_t>(high, 0, w.cols);
    const GptqColumnBlock blocks[2] = {{high, highSpec}, {w.cols - high, lowSpec}};
    gptqQuantizeBlocks(w.data, w.rows, w.cols, h.data(), blocks, GptqOptions::fromJson(params), out, job, w.name);
}

} // namespace qs::core
