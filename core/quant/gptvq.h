// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"

#include <cstdint>
#include <vector>

namespace qs::core {

/// GPTVQ (van Baalen et al. 2024): vector quantization with GPTQ-style error feedback.
///
/// Vectors are d consecutive input columns of one row. A codebook is shared by a block of
/// `rowsPerCodebook` rows x `groupCols` columns: the columns are split in groups of `groupCols`, and
/// each group's rows in blocks so that a codebook covers about `groupSize` weights (the paper's group
/// size l; 0 = all rows). Columns are processed d at a time from left to right; each vector is assigned
/// to the codebook entry nearest in the metric of the remaining inverse Hessian, and the error is fed back
/// into the columns not yet quantized (the multi-column OBS update). A column group's codebooks are
/// initialised when the loop reaches it, by k-means on the current (error-updated) weights with every
/// dimension weighted by 1 / U_jj^2 (U: upper Cholesky factor of H^-1, GPTQ's per-column error weight).
/// After the pass each codebook is refit by least squares on the layer objective with the assignments
/// fixed, then stored as INT-`codebookBits` with one fp16 scale (16: fp16 entries, no scale), or with
/// `svdRank` > 0 as a rank-r factorisation of all codebooks of the matrix in fp16.
struct GptvqOptions {
    int dim = 2;             ///< d: 1, 2 or 4
    int bits = 3;            ///< index bits per dimension: 2^(bits*d) entries per codebook
    int groupCols = 256;     ///< columns per codebook (a multiple of d)
    std::int64_t groupSize = 8192; ///< weights per codebook (rows = groupSize / groupCols); 0 = all rows
    int emIters = 20;        ///< k-means iterations of the initialisation
    bool uniformInit = false; ///< start from a uniform product grid over the vectors' range instead of k-means++
    bool update = true;      ///< least-squares codebook update after the pass
    int codebookBits = 8;    ///< bits of a stored codebook element: 2..8 INT with a per-codebook scale, 16 fp16
    int svdRank = 0;         ///< > 0: store all codebooks of a matrix as a rank-r factorisation (fp16)
    double damp = 0.01;      ///< added to diag(H): damp * mean(diag(H)), as GPTQ
    int blockSize = 128;     ///< columns per lazy update block
    std::uint64_t seed = 1;  ///< k-means++ seed (results are deterministic for a seed)
};

/// Codebook geometry of a rows x cols weight under `opt`.
struct GptvqLayout {
    std::int64_t entries = 0, colsPerCodebook = 0, rowsPerCodebook = 0, codebooks = 0, vectorsPerRow = 0;
};
GptvqLayout gptvqLayout(const GptvqOptions& opt, std::int64_t rows, std::int64_t cols);

/// Stored bits: indices (bits*d per vector, a short last vector too) + codebooks (entries x d x element
/// bits + a 16-bit scale each, or the fp16 SVD factors).
double gptvqTotalBits(const GptvqOptions& opt, std::int64_t rows, std::int64_t cols);

/// Result of the weighted k-means of a set of d-vectors.
struct WeightedKMeans {
    std::vector<float> centroids;   ///< [k, d]
    std::vector<std::int32_t> assign; ///< per vector
    std::vector<double> objective;  ///< sum_i sum_a w_ia (x_ia - c_assign(i),a)^2 after each assignment step
};

/// Weighted k-means on n vectors x [n, d] with per-element weights w [n, d] (0 = ignore that element):
/// k-means++ (or `init` when given, [k, d]) then `iters` rounds of assignment + weighted-mean update.
/// The objective never increases from one round to the next.
WeightedKMeans weightedKMeans(const float* x, const float* w, std::int64_t n, int d, int k, int iters,
                              std::uint64_t seed, const std::vector<float>* init = nullptr);

/// What the quantizer did (for tests and reports).
struct GptvqResult {
    GptvqLayout layout;
    double objective = 0;        ///< tr(E XtX E^T) of the final weights
    double objectiveBeforeUpdate = 0; ///< after the GPTQ-style pass, before the codebook update
    std::vector<float> codebooks; ///< [codebooks, entries, d] as stored (after INT/SVD compression)
    std::vector<std::int32_t> assign; ///< [rows, vectorsPerRow] entry of each vector
};

/// Runs GPTVQ on one weight; `out` gets the dequantized weight. Needs w.input (xtx).
GptvqResult gptvqQuantize(const WeightMatrix& w, const GptvqOptions& opt, float* out, const JobContext& job);

/// The registry entry "gptvq". The codebook is the number format: the spec's format/granularity are unused.
class GptvqQuantizer final : public Quantizer {
public:
    std::string_view name() const override { return "gptvq"; }
    std::string_view summary() const override {
        return "GPTVQ: d-dimensional vector quantization with Hessian error feedback and data-aware codebooks";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return true; }
    void quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                  const JobContext& job) const override;
    double bitsPerWeight(const QuantSpec& spec, const nlohmann::json& params, std::int64_t rows,
                         std::int64_t cols) const override;
    /// Options from validated parameters.
    static GptvqOptions optionsFrom(const nlohmann::json& params);
};

} // namespace qs::core
