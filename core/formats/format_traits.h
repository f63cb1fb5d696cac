// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace qs::core {

struct MiniFloatSpec;
struct MiniFloatLayout; // tensor/gemm.h

/// Number formats. Ids are stored in SQLite/HDF5: a closed, append-only set — never renumber.
enum class FormatId : std::uint16_t {
    Int2 = 0,
    Int3 = 1,
    Int4 = 2,
    Int5 = 3,
    Int6 = 4,
    Int7 = 5,
    Int8 = 6,
    Fp8E4M3 = 7,
    Fp8E5M2 = 8,
    Fp6E3M2 = 9,
    Fp6E2M3 = 10,
    Fp4E2M1 = 11,
    MxFp8E4M3 = 12,
    MxFp8E5M2 = 13,
    MxFp6E3M2 = 14,
    MxFp6E2M3 = 15,
    MxFp4 = 16,
    MxInt8 = 17,
    NvFp4 = 18,
    NvInt4 = 19,
    Nf4 = 20,
    Log2 = 21,
    Sulq = 22,
    Bf16 = 23,
    Fp16 = 24,
};

/// Element grid family; decides which fit/apply pair a row uses (for listings and views).
enum class FormatKind : std::uint8_t { Integer, ScaledFloat, Microscaling, TwoLevel, Codebook, Logarithmic, Cast };

/// Range of a run of values that share one scale (a tensor, a row, a group or a block).
/// Non-finite values are left out.
struct RangeStats {
    float min = 0.0f;
    float max = 0.0f;
    float amax = 0.0f;
};

/// Scale parameters of one run: x' = scale * (q - zero). scale == 0 means "all zeros".
struct ScaleParams {
    float scale = 1.0f;
    float zero = 0.0f;
};

/// Options of a quantization that formats honour.
struct ElementOptions {
    bool symmetric = true;  ///< no zero point
    bool fullRange = false; ///< INT symmetric: scale = absmax / (2^(k-1) - 0.5), codes -2^(k-1)..2^(k-1)-1
};

struct FormatTraits;

/// Fits scale parameters to a run's range (`tensor` is the whole tensor's range, for two-level formats).
/// A symmetric fit (o.symmetric, or a format without asymmetric grids) reads only run.amax.
using FitFn = ScaleParams (*)(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor,
                              const ElementOptions& o);
/// Quantize-dequantizes n values with the given parameters.
using ApplyFn = void (*)(const FormatTraits& f, const float* in, float* out, std::size_t n,
                         const ScaleParams& p, const ElementOptions& o);
/// Quantize-dequantizes n values in runs of `run` (the last may be shorter), run k with params[k]:
/// apply() run by run, without paying a call and the kernel's set-up for every run of 16 or 32.
using ApplyRunsFn = void (*)(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                             const ScaleParams* params, const ElementOptions& o);

/// Symmetric fits of `count` runs from their amaxes (all a symmetric fit reads) into out[k]: the same
/// bits as fit(f, {-amax[k], amax[k], amax[k]}, tensor, o), vectorised across runs.
using FitAmaxRunsFn = void (*)(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                               const ElementOptions& o, ScaleParams* out);

/// Fits of `count` runs from their ranges (what an asymmetric fit reads) into out[k]: the same bits as
/// fit(f, range[k], tensor, o), vectorised across runs.
using FitRangeRunsFn = void (*)(const FormatTraits& f, const RangeStats* range, std::size_t count,
                                const RangeStats& tensor, const ElementOptions& o, ScaleParams* out);

/// apply() of a format whose kernel is an ApplyRunsFn: one run of n values.
template <ApplyRunsFn runs>
void applyOneRun(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
                 const ElementOptions& o) {
    if (n > 0) runs(f, in, out, n, n, &p, o);
}

/// One row of the format table: everything that belongs to a number format (accelerator cost
/// traits live elsewhere). Generic code never switches on the id.
struct FormatTraits {
    FormatId id;                  ///< persisted id
    std::string_view name;        ///< CLI / recipe spelling, e.g. "int4"
    std::string_view summary;     ///< one line for --help and tables
    std::string_view explanation; ///< a few sentences for teaching views
    /// How a drawn grid relates to the fitted scale, for teaching views (the Formats view's number
    /// line): placeholders {name}, {s} (scale), {z} (zero point), {e} (log2 of a power-of-two scale),
    /// {block} (the format's block). scaleCaptionAsym is the asymmetric variant (empty: none).
    std::string_view scaleCaption;
    std::string_view scaleCaptionAsym;
    FormatKind kind;              ///< element grid family
    int elementBits;              ///< bits of one stored element code
    int fixedBlock;               ///< block size the format prescribes (MX/NV), 0 = free granularity
    bool allowsAsymmetric;        ///< a zero point is meaningful
    int scaleBits;                ///< bits stored per scale (fp16 for INT groups, 8 for E8M0/E4M3), 0 = none
    int tensorScaleBits;          ///< a second-level per-tensor scale (NVFP4: fp32), 0 = none
    const MiniFloatSpec* element; ///< float element grid, nullptr for integer/codebook grids
    FitFn fit;                    ///< range -> scale parameters
    ApplyFn apply;                ///< fake quantization of a run
    double testRelTolerance;      ///< what tests allow against an independent float64 re-implementation
    ApplyRunsFn applyRuns = nullptr; ///< apply over many runs at once, where the format has it
    FitAmaxRunsFn fitAmaxRuns = nullptr; ///< symmetric fits of many runs at once, where the format has it
    FitRangeRunsFn fitRangeRuns = nullptr; ///< fits of many runs from their ranges, where the format has it
};

/// The whole table, in id order.
std::span<const FormatTraits> formatTable();
/// Row of an id (every id has one).
const FormatTraits& formatTraits(FormatId id);
/// Row by name ("int4"); nullptr when unknown.
const FormatTraits* findFormat(std::string_view name);

/// The element values a format can represent before scaling (codes for INT, E2M1 values for MXFP4,
/// the NF4 code book, ...), ascending, each once. Cast formats (bf16/fp16) return their positive
/// normal binade grid summary only: {min subnormal, max} — they are too many to list.
std::vector<float> elementGrid(const FormatTraits& f);

/// The element grids of the table's code-book, log and minifloat formats (NF4, log2, SULQ, E2M1) that
/// have at most `maxValues` values, each once: a quantized weight on one of them times a scale per run
/// can be held as codes into it (tensor/compact_matrix.h). Integer grids are left out: they are held as
/// int codes.
std::vector<std::vector<float>> smallCodeBooks(std::size_t maxValues);

/// The bit layouts of the table's minifloat elements of 5 to 8 bits (FP8, FP6: more values than a
/// small code book holds), each once, fewest bits first: a quantized weight on one of them times a
/// scale per run can be held as one-byte codes (CompactMatrix::exactly). Fewest bits first, because a
/// narrow grid's values are also on a wider one, whose scale search has more candidates to try.
std::vector<MiniFloatLayout> byteMiniFloatLayouts();

} // namespace qs::core
