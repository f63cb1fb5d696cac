// SPDX-License-Identifier: MIT
#include "quant/gptvq.h"

#include "quant/layer_objective.h"

#include <Eigen/Cholesky>
#include <Eigen/LU>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace qs::core {

const ParamSchema& GptvqQuantizer::params() const {
    static const ParamSchema schema{
        {"dim", ParamType::Int, 2, 1, 4, {}, "vector dimension d (1, 2 or 4 consecutive input columns)", "Dimension"},
        {"bits", ParamType::Int, 3, 1, 8, {}, "index bits per weight: 2^(bits*dim) codebook entries", "Bits"},
        {"group_cols", ParamType::Int, 256, 1, 1 << 20, {}, "input columns per codebook (a multiple of dim)",
         "Group columns"},
        {"group_size", ParamType::Int, 8192, 0, 1 << 30, {},
         "weights per codebook (paper's l): rows per codebook = group_size / group_cols; 0 = all rows",
         "Group size"},
        {"em_iters", ParamType::Int, 20, 0, 1000, {}, "k-means iterations of the codebook initialisation",
         "EM iterations"},
        {"init", ParamType::Choice, "kmeans++", 1, 0, {"kmeans++", "uniform"},
         "codebook start: Hessian-weighted k-means++ or a uniform grid over the vectors' range", "Init"},
        {"update", ParamType::Bool, true, 1, 0, {}, "least-squares codebook update after the pass", "Codebook update",
         "no-update"},
        {"codebook_bits", ParamType::Int, 8, 2, 16, {},
         "bits per stored codebook element: INT with one fp16 scale per codebook (16: fp16, no scale)",
         "Codebook bits"},
        {"svd_rank", ParamType::Int, 0, 0, 4096, {}, "store the codebooks as a rank-r SVD factorisation (0: off)",
         "SVD rank"},
        {"damp", ParamType::Float, 0.01, 0, 10, {}, "Hessian dampening relative to its mean diagonal", "Dampening"},
        {"seed", ParamType::Int, 1, 0, 1 << 30, {}, "k-means++ seed", "Seed"},
    };
    return schema;
}

GptvqOptions GptvqQuantizer::optionsFrom(const nlohmann::json& p) {
    GptvqOptions o;
    o.dim = p.at("dim").get<int>();
    o.bits = p.at("bits").get<int>();
    o.groupCols = p.at("group_cols").get<int>();
    o.groupSize = p.at("group_size").get<std::int64_t>();
    o.emIters = p.at("em_iters").get<int>();
    o.uniformInit = p.at("init").get<std::string>() == "uniform";
    o.update = p.at("update").get<bool>();
    o.codebookBits = p.at("codebook_bits").get<int>();
    o.svdRank = p.at("svd_rank").get<int>();
    o.damp = p.at("damp").get<double>();
    o.seed = p.at("seed").get<std::uint64_t>();
    return o;
}

namespace {

void checkOptions(const GptvqOptions& o) {
    if (o.dim != 1 && o.dim != 2 && o.dim != 4) throw Error("gptvq: dim must be 1, 2 or 4");
    if (o.bits * o.dim > 12)
        throw Error("gptvq: bits*dim = " + std::to_string(o.bits * o.dim) + " gives over 4096 codebook entries");
    if (o.groupCols % o.dim != 0) throw Error("gptvq: group_cols must be a multiple of dim");
}

std::int64_t ceilDiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

std::int64_t svdRankUsed(const GptvqOptions& o, const GptvqLayout& l) {
    return std::min({static_cast<std::int64_t>(o.svdRank), l.codebooks, l.entries * o.dim});
}

// INT-b with one absmax scale per codebook (b = 16: kept as is, fp16 storage).
void compressCodebook(float* c, std::size_t n, int bits) {
    if (bits >= 16) return;
    float amax = 0;
    for (std::size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(c[i]));
    if (amax == 0) return;
    const float qmax = static_cast<float>((1 << (bits - 1)) - 1), scale = amax / qmax;
    for (std::size_t i = 0; i < n; ++i) c[i] = scale * std::clamp(std::nearbyint(c[i] / scale), -qmax, qmax);
}

// The product of 2^bits evenly spaced levels per dimension over the vectors' range (weighted elements only).
std::vector<float> uniformGrid(const std::vector<float>& x, const std::vector<float>& w, int d, int bits) {
    const int levels = 1 << bits;
    std::vector<float> lo(d, std::numeric_limits<float>::max()), hi(d, std::numeric_limits<float>::lowest());
    for (std::size_t i = 0; i < x.size(); ++i)
        if (w[i] > 0) lo[i % d] = std::min(lo[i % d], x[i]), hi[i % d] = std::max(hi[i % d], x[i]);
    int entries = 1;
    for (int a = 0; a < d; ++a) {
        entries *= levels;
        if (lo[a] > hi[a]) lo[a] = hi[a] = 0;
    }
    std::vector<float> c(static_cast<std::size_t>(entries) * d);
    for (int e = 0; e < entries; ++e)
        for (int a = 0, rest = e; a < d; ++a, rest /= levels)
            c[static_cast<std::size_t>(e) * d + a] =
                lo[a] + (hi[a] - lo[a]) * static_cast<float>(rest % levels) / static_cast<float>(levels - 1);
    return c;
}

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Everything one pass shares.
struct Problem {
    const GptvqOptions& opt;
    GptvqLayout l;
    std::int64_t rows, cols, colGroups;
    int d;
    RowMatrixF W;             ///< working weights (error feedback lands here)
    Eigen::MatrixXf U;        ///< upper Cholesky factor of H^-1
    std::vector<float> colWeight; ///< 1 / U_jj^2
    std::vector<float> cb;    ///< [codebooks, entries, d]
    std::vector<std::int32_t> assign; ///< [rows, vectorsPerRow]
    RowMatrixF Q;             ///< dequantized result

    float* codebook(std::int64_t rowBlock, std::int64_t colGroup) {
        return cb.data() + ((rowBlock * colGroups + colGroup) * l.entries) * d;
    }
};

// H (damped, dead columns fixed) -> U with H^-1 = U^T U, as GPTQ.
void prepareHessian(Problem& p, const Eigen::MatrixXd& xtx) {
    Eigen::MatrixXd H = xtx;
    for (std::int64_t j = 0; j < p.cols; ++j)
        if (H(j, j) <= 0) {
            H(j, j) = 1; // input never active: its weights do not matter
            p.W.col(j).setZero();
        }
    const double dampValue = p.opt.damp * H.diagonal().mean();
    H.diagonal().array() += dampValue;
    Eigen::LLT<Eigen::MatrixXd> llt(H);
    if (llt.info() != Eigen::Success) throw Error("gptvq: Hessian not positive definite; raise --damp");
    const Eigen::MatrixXd Hinv = llt.solve(Eigen::MatrixXd::Identity(p.cols, p.cols));
    Eigen::LLT<Eigen::MatrixXd> lltInv(Hinv);
    if (lltInv.info() != Eigen::Success) throw Error("gptvq: inverse Hessian not positive definite; raise --damp");
    p.U = Eigen::MatrixXd(lltInv.matrixU()).cast<float>();
    p.colWeight.resize(p.cols);
    for (std::int64_t j = 0; j < p.cols; ++j) p.colWeight[j] = 1.0f / (p.U(j, j) * p.U(j, j));
}

// Codebooks of one column group from the current weights (the loop is at the group's first column).
void initCodebooks(Problem& p, std::int64_t cg) {
    const int d = p.d;
    const std::int64_t c0 = cg * p.l.colsPerCodebook, c1 = std::min(p.cols, c0 + p.l.colsPerCodebook);
    const std::int64_t vpr = ceilDiv(c1 - c0, d);
    for (std::int64_t r0 = 0, rb = 0; r0 < p.rows; r0 += p.l.rowsPerCodebook, ++rb) {
        const std::int64_t r1 = std::min(p.rows, r0 + p.l.rowsPerCodebook), n = (r1 - r0) * vpr;
        // A short last vector is padded with zero-weight elements.
        std::vector<float> x(static_cast<std::size_t>(n) * d, 0.0f), w(x.size(), 0.0f);
        for (std::int64_t r = r0; r < r1; ++r)
            for (std::int64_t c = c0; c < c1; ++c) {
                const std::size_t i = static_cast<std::size_t>(((r - r0) * vpr + (c - c0) / d) * d + (c - c0) % d);
                x[i] = p.W(r, c);
                w[i] = p.colWeight[c];
            }
        std::vector<float> start;
        if (p.opt.uniformInit) start = uniformGrid(x, w, d, p.opt.bits);
        const WeightedKMeans km = weightedKMeans(x.data(), w.data(), n, d, static_cast<int>(p.l.entries), p.opt.emIters,
                                                 p.opt.seed + static_cast<std::uint64_t>(rb * p.colGroups + cg),
                                                 p.opt.uniformInit ? &start : nullptr);
        float* dst = p.codebook(rb, cg);
        std::copy(km.centroids.begin(), km.centroids.end(), dst);
        if (p.opt.svdRank == 0) compressCodebook(dst, km.centroids.size(), p.opt.codebookBits);
    }
}

// Columns [i1, i2) of every row, d at a time: nearest entry in the metric (U_JJ^T U_JJ)^-1 of the
// remaining inverse Hessian, then the OBS update W_rest -= E U_JJ^-1 U_J,rest (inside the block now,
// to the right of it once per block).
void quantizeBlock(Problem& p, std::int64_t i1, std::int64_t i2, std::int64_t cg, RowMatrixF& err) {
    const int d = p.d;
    const std::int64_t steps = ceilDiv(i2 - i1, d);
    std::vector<Eigen::MatrixXf> uInv(steps), metric(steps);
    for (std::int64_t s = 0; s < steps; ++s) {
        const std::int64_t j = i1 + s * d, dd = std::min<std::int64_t>(d, p.cols - j);
        const Eigen::MatrixXd ujj = p.U.block(j, j, dd, dd).cast<double>();
        const Eigen::MatrixXd inv = ujj.triangularView<Eigen::Upper>().solve(Eigen::MatrixXd::Identity(dd, dd));
        uInv[s] = inv.cast<float>();
        metric[s] = (inv * inv.transpose()).cast<float>();
    }
    const std::int64_t entries = p.l.entries;
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < p.rows; ++r) {
        const float* book = p.codebook(r / p.l.rowsPerCodebook, cg);
        float x[4], e[4], es[4];
        for (std::int64_t s = 0; s < steps; ++s) {
            const std::int64_t j = i1 + s * d, dd = std::min<std::int64_t>(d, p.cols - j);
            for (int a = 0; a < dd; ++a) x[a] = p.W(r, j + a);
            const Eigen::MatrixXf& m = metric[s];
            double best = std::numeric_limits<double>::max();
            std::int32_t arg = 0;
            for (std::int64_t k = 0; k < entries; ++k) {
                const float* c = book + k * d;
                double dist = 0;
                for (int a = 0; a < dd; ++a) e[a] = x[a] - c[a];
                for (int a = 0; a < dd; ++a)
                    for (int b = 0; b < dd; ++b) dist += static_cast<double>(e[a]) * m(a, b) * e[b];
                if (dist < best) best = dist, arg = static_cast<std::int32_t>(k);
            }
            p.assign[r * p.l.vectorsPerRow + j / d] = arg;
            const float* c = book + static_cast<std::int64_t>(arg) * d;
            for (int a = 0; a < dd; ++a) p.Q(r, j + a) = c[a], e[a] = x[a] - c[a];
            for (int b = 0; b < dd; ++b) {
                es[b] = 0;
                for (int a = 0; a <= b; ++a) es[b] += e[a] * uInv[s](a, b);
                err(r, j - i1 + b) = es[b];
            }
            for (std::int64_t c2 = j + dd; c2 < i2; ++c2) {
                float u = 0;
                for (int a = 0; a < dd; ++a) u += es[a] * p.U(j + a, c2);
                p.W(r, c2) -= u;
            }
        }
    }
    if (i2 < p.cols)
        p.W.rightCols(p.cols - i2).noalias() -=
            err.leftCols(i2 - i1) * p.U.block(i1, i2, i2 - i1, p.cols - i2);
}

// Refits each codebook by least squares on tr(E XtX E^T) with the assignments fixed (one exact Newton
// step on a quadratic); a step that does not lower the objective after compression is dropped.
// With `basis` (entries*d x r, orthonormal columns) the step stays in its span: SVD-compressed codebooks
// refit their coefficients and keep the shared factor.
void updateCodebooks(Problem& p, const WeightMatrix& w, const Eigen::MatrixXd& xtx, const JobContext& job,
                     const Eigen::MatrixXd* basis = nullptr) {
    const int d = p.d;
    const std::int64_t kd = p.l.entries * d;
    Eigen::MatrixXd E(p.rows, p.cols);
    for (std::int64_t r = 0; r < p.rows; ++r)
        for (std::int64_t c = 0; c < p.cols; ++c) E(r, c) = static_cast<double>(w.data[r * p.cols + c]) - p.Q(r, c);
    for (std::int64_t cg = 0; cg < p.colGroups; ++cg) {
        const std::int64_t c0 = cg * p.l.colsPerCodebook, n = std::min(p.cols, c0 + p.l.colsPerCodebook) - c0;
        for (std::int64_t r0 = 0, rb = 0; r0 < p.rows; r0 += p.l.rowsPerCodebook, ++rb) {
            job.checkCancel();
            const std::int64_t nr = std::min(p.rows, r0 + p.l.rowsPerCodebook) - r0;
            const Eigen::MatrixXd he = E.middleRows(r0, nr) * xtx.middleCols(c0, n); // (H e_r)_J per row
            const Eigen::MatrixXd hjj = xtx.block(c0, c0, n, n);
            Eigen::MatrixXd A = Eigen::MatrixXd::Zero(kd, kd);
            Eigen::VectorXd b = Eigen::VectorXd::Zero(kd);
            std::vector<std::int64_t> idx(n);
            for (std::int64_t r = 0; r < nr; ++r) {
                for (std::int64_t c = 0; c < n; ++c)
                    idx[c] = static_cast<std::int64_t>(p.assign[(r0 + r) * p.l.vectorsPerRow + (c0 + c) / d]) * d + (c0 + c) % d;
                for (std::int64_t c = 0; c < n; ++c) {
                    b[idx[c]] += he(r, c);
                    for (std::int64_t c2 = 0; c2 < n; ++c2) A(idx[c], idx[c2]) += hjj(c, c2);
                }
            }
            Eigen::VectorXd step;
            if (basis) {
                Eigen::MatrixXd Ab = basis->transpose() * A * *basis;
                Ab.diagonal().array() += 1e-9 * (Ab.diagonal().maxCoeff() + 1e-30);
                step = *basis * Ab.ldlt().solve(basis->transpose() * b);
            } else {
                Eigen::MatrixXd Ar = A;
                Ar.diagonal().array() += 1e-9 * (A.diagonal().maxCoeff() + 1e-30);
                step = Ar.ldlt().solve(b);
            }
            float* book = p.codebook(rb, cg);
            std::vector<float> fresh(book, book + kd);
            for (std::int64_t i = 0; i < kd; ++i) fresh[i] = static_cast<float>(fresh[i] + step[i]);
            if (p.opt.svdRank == 0) compressCodebook(fresh.data(), fresh.size(), p.opt.codebookBits);
            Eigen::VectorXd delta(kd);
            for (std::int64_t i = 0; i < kd; ++i) delta[i] = static_cast<double>(fresh[i]) - book[i];
            if (-2.0 * delta.dot(b) + delta.dot(A * delta) >= 0) continue; // f(c + delta) - f(c)
            std::copy(fresh.begin(), fresh.end(), book);
            for (std::int64_t r = 0; r < nr; ++r)
                for (std::int64_t c = 0; c < n; ++c) {
                    const std::int64_t i = static_cast<std::int64_t>(p.assign[(r0 + r) * p.l.vectorsPerRow + (c0 + c) / d]) * d + (c0 + c) % d;
                    p.Q(r0 + r, c0 + c) = book[i];
                    E(r0 + r, c0 + c) = static_cast<double>(w.data[(r0 + r) * p.cols + c0 + c]) - book[i];
                }
        }
    }
}

// All codebooks of the matrix as one [codebooks, entries*d] matrix, replaced by its rank-r truncation.
// Entries are sorted first (assignments remapped) so that codebooks line up entry by entry.
Eigen::MatrixXd svdCompress(Problem& p) {
    const int d = p.d;
    const std::int64_t kd = p.l.entries * d, rank = svdRankUsed(p.opt, p.l);
    std::vector<std::vector<std::int32_t>> remap(p.l.codebooks);
    for (std::int64_t b = 0; b < p.l.codebooks; ++b) {
        float* book = p.cb.data() + b * kd;
        std::vector<std::int32_t> order(p.l.entries);
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t c) {
            return std::lexicographical_compare(book + a * d, book + a * d + d, book + c * d, book + c * d + d);
        });
        std::vector<float> sorted(kd);
        remap[b].resize(p.l.entries);
        for (std::int64_t k = 0; k < p.l.entries; ++k) {
            std::copy(book + order[k] * d, book + order[k] * d + d, sorted.begin() + k * d);
            remap[b][order[k]] = static_cast<std::int32_t>(k);
        }
        std::copy(sorted.begin(), sorted.end(), book);
    }
    Eigen::MatrixXd C(p.l.codebooks, kd);
    for (std::int64_t b = 0; b < p.l.codebooks; ++b)
        for (std::int64_t i = 0; i < kd; ++i) C(b, i) = p.cb[b * kd + i];
    Eigen::BDCSVD<Eigen::MatrixXd> svd(C, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Eigen::MatrixXd low = svd.matrixU().leftCols(rank) * svd.singularValues().head(rank).asDiagonal() *
                                svd.matrixV().leftCols(rank).transpose();
    for (std::int64_t b = 0; b < p.l.codebooks; ++b)
        for (std::int64_t i = 0; i < kd; ++i) p.cb[b * kd + i] = static_cast<float>(low(b, i));
    for (std::int64_t r = 0; r < p.rows; ++r)
        for (std::int64_t v = 0; v < p.l.vectorsPerRow; ++v) {
            const std::int64_t c0 = v * d, cg = c0 / p.l.colsPerCodebook;
            const std::int64_t b = (r / p.l.rowsPerCodebook) * p.colGroups + cg;
            std::int32_t& a = p.assign[r * p.l.vectorsPerRow + v];
            a = remap[b][a];
            for (std::int64_t c = c0; c < std::min(p.cols, c0 + d); ++c) p.Q(r, c) = p.cb[b * kd + a * d + (c - c0)];
        }
    return svd.matrixV().leftCols(rank);
}

} // namespace

GptvqLayout gptvqLayout(const GptvqOptions& opt, std::int64_t rows, std::int64_t cols) {
    checkOptions(opt);
    GptvqLayout l;
    l.entries = std::int64_t{1} << (opt.bits * opt.dim);
    l.colsPerCodebook = std::min<std::int64_t>(opt.groupCols, cols);
    l.rowsPerCodebook =
        opt.groupSize <= 0
            ? rows
            : std::clamp<std::int64_t>(std::llround(static_cast<double>(opt.groupSize) / l.colsPerCodebook), 1, rows);
    l.codebooks = ceilDiv(rows, l.rowsPerCodebook) * ceilDiv(cols, l.colsPerCodebook);
    l.vectorsPerRow = ceilDiv(cols, opt.dim);
    return l;
}

double gptvqTotalBits(const GptvqOptions& opt, std::int64_t rows, std::int64_t cols) {
    const GptvqLayout l = gptvqLayout(opt, rows, cols);
    const double indexBits = static_cast<double>(rows) * l.vectorsPerRow * opt.bits * opt.dim;
    const double kd = static_cast<double>(l.entries) * opt.dim;
    if (opt.svdRank > 0) {
        const double r = static_cast<double>(svdRankUsed(opt, l));
        return indexBits + (static_cast<double>(l.codebooks) * r + r * kd) * 16.0;
    }
    const double perCodebook = kd * opt.codebookBits + (opt.codebookBits < 16 ? 16.0 : 0.0);
    return indexBits + static_cast<double>(l.codebooks) * perCodebook;
}

GptvqResult gptvqQuantize(const WeightMatrix& w, const GptvqOptions& opt, float* out, const JobContext& job) {
    const Eigen::MatrixXd& xtx = requireXtx(w.input, w.cols, "gptvq");
    Problem p{opt, gptvqLayout(opt, w.rows, w.cols), w.rows, w.cols, 0, opt.dim, {}, {}, {}, {}, {}, {}};
    p.colGroups = ceilDiv(p.cols, p.l.colsPerCodebook);
    p.W = Eigen::Map<const RowMatrixF>(w.data, w.rows, w.cols);
    p.Q = RowMatrixF::Zero(w.rows, w.cols);
    p.cb.assign(static_cast<std::size_t>(p.l.codebooks * p.l.entries * p.d), 0.0f);
    p.assign.assign(static_cast<std::size_t>(p.rows * p.l.vectorsPerRow), 0);
    prepareHessian(p, xtx);

    // Blocks never straddle a column group, so a group's codebooks see fully updated weights.
    const std::int64_t block = std::max<std::int64_t>(p.d, opt.blockSize - opt.blockSize % p.d);
    RowMatrixF err(p.rows, block);
    for (std::int64_t i1 = 0; i1 < p.cols;) {
        job.checkCancel();
        const std::int64_t cg = i1 / p.l.colsPerCodebook, groupEnd = std::min(p.cols, (cg + 1) * p.l.colsPerCodebook);
        if (i1 == cg * p.l.colsPerCodebook) initCodebooks(p, cg);
        const std::int64_t i2 = std::min(i1 + block, groupEnd);
        quantizeBlock(p, i1, i2, cg, err);
        i1 = i2;
    }

    GptvqResult res;
    res.layout = p.l;
    res.objectiveBeforeUpdate = layerOutputError(w.data, p.Q.data(), p.rows, p.cols, xtx);
    if (opt.update) updateCodebooks(p, w, xtx, job);
    if (opt.svdRank > 0) {
        const Eigen::MatrixXd basis = svdCompress(p);
        if (opt.update) updateCodebooks(p, w, xtx, job, &basis);
    }
    std::copy(p.Q.data(), p.Q.data() + p.Q.size(), out);
    res.objective = layerOutputError(w.data, out, p.rows, p.cols, xtx);
    res.codebooks = std::move(p.cb);
    res.assign = std::move(p.assign);
    return res;
}

void GptvqQuantizer::quantize(const WeightMatrix& w, const QuantSpec&, const nlohmann::json& params, float* out,
                              const JobContext& job) const {
    gptvqQuantize(w, optionsFrom(params), out, job);
}

double GptvqQuantizer::bitsPerWeight(const QuantSpec&, const nlohmann::json& params, std::int64_t rows,
                                     std::int64_t cols) const {
    const GptvqOptions opt = optionsFrom(validateParams(this->params(), params, "method gptvq"));
    return gptvqTotalBits(opt, rows, cols) / (static_cast<double>(rows) * static_cast<double>(cols));
}

} // namespace qs::core
