// SPDX-License-Identifier: MIT
#pragma once
// Float32 matrix products for the forward and backward passes, on row-major operands as the model
// holds them. Each element of C is one fixed sequence: for each block of 256 k in order, a sum from
// 0 by fused multiply-adds in k order, added to the running sum (0, or C's value for the
// accumulating products); then the bias. It depends only on its row of A, its column of B and k,
// never on m, n, the tile it falls in, the layout of the operands, the vector width or the thread
// count: a batch of windows gives the numbers each window gives alone, 1 and 2 threads agree bit for
// bit, AVX2 and AVX-512 agree, and gemmNT(A, B) equals gemmNN(A, Bᵀ) and gemmTN(Aᵀ, Bᵀ).
#include "tensor/half.h"

#include <bit>
#include <cstdint>

namespace qs::core {

/// A row-major matrix operand: element (r, c) at data[r * stride + c].
struct ConstMatrixView {
    const float* data = nullptr;
    std::int64_t rows = 0, cols = 0, stride = 0;
};
struct MatrixView {
    float* data = nullptr;
    std::int64_t rows = 0, cols = 0, stride = 0;
    operator ConstMatrixView() const { return {data, rows, cols, stride}; }
};

/// The layout of a small IEEE-style float code (OCP FP8/FP6/FP4 elements): a sign bit above
/// `exponent` exponent bits above `mantissa` mantissa bits, exponent bias `bias`; an exponent field of
/// 0 is subnormal. Every field pattern decodes to a finite value (no infinities or NaN: a code is
/// storage for a value already on the grid).
struct MiniFloatLayout {
    std::uint8_t exponent = 0, mantissa = 0, bias = 0;
    int bits() const { return 1 + exponent + mantissa; }
    /// Whether the products can read it in one byte (or nibble): an exponent field, a mantissa that
    /// leaves float32 a bit to round at, a bias that keeps 2^(127 - bias) a float32.
    bool readable(int maxBits) const { return exponent >= 1 && mantissa <= 22 && bias <= 127 && bits() <= maxBits; }
    /// The value of `code` exactly: its magnitude bits placed as a float32's exponent and mantissa
    /// fields, times 2^(127 - bias) (a float32 subnormal for a subnormal code, scaled exactly).
    float decode(unsigned code) const {
        const std::uint32_t magnitude = code & ((1u << (exponent + mantissa)) - 1u);
        const std::uint32_t sign = (code >> (exponent + mantissa)) & 1u;
        const float value = std::bit_cast<float>(magnitude << (23 - mantissa)) * scaleUp();
        return sign ? -value : value;
    }
    /// 2^(127 - bias): a float32 with that exponent field.
    float scaleUp() const { return std::bit_cast<float>(static_cast<std::uint32_t>(254 - bias) << 23); }
};

/// A row-major matrix held in fewer than 4 bytes a value, as the forward pass keeps Linear weights,
/// and read exactly as float32: 16-bit floats (BF16 or IEEE binary16) as model files store them, or
/// codes times a float32 scale per run, element (r, c) being element(code) * scales[(r / runRows) *
/// scaleRowStep + (c / runCols) * scaleColStep] (one rounding).
struct CompactMatrixView {
    /// ScaledInt8: element = float(int8 code + run offset) * run scale. CodeBook: element = table[uint8 code] * run
    /// scale, a code book of at most kCodeBookSize values (NF4, log2, SULQ, FP4 levels). ScaledMiniFloat:
    /// element = miniFloat.decode(code) * run scale (FP8, FP6 elements; one rounding, the product).
    enum class Kind : std::uint8_t { Bf16, F16, ScaledInt8, CodeBook, ScaledMiniFloat };
    static constexpr int kCodeBookSize = 16;
    Kind kind = Kind::Bf16;
    const void* data = nullptr; ///< std::uint16_t (Bf16, F16), std::int8_t (ScaledInt8) or std::uint8_t (CodeBook, ScaledMiniFloat) elements
    std::int64_t rows = 0, cols = 0, stride = 0;
    const float* scales = nullptr; ///< ScaledInt8, CodeBook and ScaledMiniFloat
    const float* table = nullptr;  ///< CodeBook only: kCodeBookSize values (unused ones 0)
    std::int64_t runRows = 1, runCols = 1, scaleRowStep = 0, scaleColStep = 0;
    /// Scaled kinds: true when the codes take 4 bits each, two to a byte (element i = r * stride + c
    /// in the low nibble of byte i / 2 when i is even, the high one when odd; stride even).
    /// ScaledInt8 nibbles are two's complement (-8..7).
    bool nibbles = false;
    MiniFloatLayout miniFloat{}; ///< ScaledMiniFloat only
    /// ScaledInt8 only, may be null (all 0): a code offset per run, indexed as the scales, added to each
    /// code of the run (so codes q - zero of INT4 asymmetric, up to 15 apart, fit 4 bits, and those of
    /// 8-bit asymmetric, up to 255 apart, fit a byte).
    const std::int8_t* offsets = nullptr;
    /// ScaledInt8 only, may be null (all 0): a float subtracted per run after the scale, indexed as the
    /// scales: element = float(code + offset) * scale - min, two roundings (the GGUF K-quants' d·sc·q − dmin·m).
    const float* mins = nullptr;

    /// The index of element (r, c)'s run in scales and offsets.
    std::int64_t runOf(std::int64_t r, std::int64_t c) const { return r / runRows * scaleRowStep + c / runCols * scaleColStep; }

    bool scaled() const { return kind == Kind::ScaledInt8 || kind == Kind::CodeBook || kind == Kind::ScaledMiniFloat; }

    /// The code of element i (r * stride + c): ScaledInt8's signed, the others' unsigned.
    int code(std::int64_t i) const {
        const auto* bytes = static_cast<const std::uint8_t*>(data);
        if (!nibbles) return kind == Kind::ScaledInt8 ? static_cast<std::int8_t>(bytes[i]) : bytes[i];
        const int nibble = (bytes[i >> 1] >> ((i & 1) * 4)) & 0xF;
        return kind == Kind::ScaledInt8 ? (nibble ^ 8) - 8 : nibble;
    }

    /// Element (r, c) as float32: the one definition every reader of the view follows.
    float at(std::int64_t r, std::int64_t c) const {
        const std::int64_t i = r * stride + c;
        const std::int64_t run = runOf(r, c);
        float element = 0.0f;
        switch (kind) {
        case Kind::Bf16: return bf16ToF32(static_cast<const std::uint16_t*>(data)[i]);
        case Kind::F16: return f16ToF32(static_cast<const std::uint16_t*>(data)[i]);
        case Kind::ScaledInt8: element = static_cast<float>(code(i) + (offsets ? offsets[run] : 0)); break;
        case Kind::CodeBook: element = table[code(i) % kCodeBookSize]; break;
        case Kind::ScaledMiniFloat: element = miniFloat.decode(static_cast<unsigned>(code(i))); break;
        }
        return mins && kind == Kind::ScaledInt8 ? element * scales[run] - mins[run] : element * scales[run];
    }
};

/// Which elements of C a product must compute.
enum class GemmShape {
    Full,
    Lower, ///< only column <= row (causal attention scores); the others are left unspecified
};

/// C = A·Bᵀ (+ bias[col]): A [m, k], B [n, k]: both run along k, as activations and a Linear's
/// [out, in] weight do.
void gemmNT(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias = nullptr,
            GemmShape shape = GemmShape::Full);

/// C = A·B (+ bias[col]): A [m, k], B [k, n] running along n (a GPT-2 Conv1D [in, out] weight;
/// values under attention probabilities). With GemmShape::Lower, A is lower triangular
/// (A(r, j) = 0 for j > r): those terms are skipped and never read, which leaves every element as it
/// would be with them (adding an exact zero product changes nothing).
void gemmNN(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias = nullptr,
            GemmShape shape = GemmShape::Full);

/// gemmNT and gemmNN with B held compactly: each element is converted to float32 (exactly) as B is
/// packed, so C is bit for bit the product with B converted first, without a float32 copy of B.
/// Throws Error for a ScaledInt8 or CodeBook view without scales (or table) or with a run of no element.
void gemmNT(ConstMatrixView a, const CompactMatrixView& b, MatrixView c, const float* bias = nullptr);
void gemmNN(ConstMatrixView a, const CompactMatrixView& b, MatrixView c, const float* bias = nullptr);

/// Elements (r, c .. c + n) of a compact matrix as float32 into dst, exactly as the products read them
/// (CompactMatrixView::at), eight at a time where the processor allows.
void compactToFloats(const CompactMatrixView& v, std::int64_t r, std::int64_t c, std::int64_t n, float* dst);

/// C += A·B: A [m, k], B [k, n]; each element's running sum starts at its value in C (GPTQ's lazy
/// batch updates, with A negated).
void gemmNNAccumulate(ConstMatrixView a, ConstMatrixView b, MatrixView c);
/// C += A·Bᵀ, as gemmNNAccumulate. GemmShape::Lower: only C's lower triangle is wanted; other
/// elements of C may change (a Cholesky factorisation's trailing update).
void gemmNTAccumulate(ConstMatrixView a, ConstMatrixView b, MatrixView c, GemmShape shape = GemmShape::Full);

/// C = Aᵀ·B (+ bias[col]): A [k, m], B [k, n] (a weight's gradient dYᵀ·X from activations
/// [tokens, features]).
void gemmTN(ConstMatrixView a, ConstMatrixView b, MatrixView c, const float* bias = nullptr);

} // namespace qs::core
