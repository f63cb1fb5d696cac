// SPDX-License-Identifier: MIT
#pragma once
// A weight matrix held in fewer than 4 bytes a value without changing one number the products
// compute: the forward pass holds a checkpoint's 16-bit Linears as stored, and a quantized Linear as
// int8 codes times a scale per run, or a code book's values or mini-float codes times a scale per
// run, when its values are exactly that.
#include "tensor/gemm.h"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace qs::core {

class CompactMatrix {
public:
    /// 16-bit floats (BF16 when `bf16`, else IEEE binary16) of a row-major [rows, cols] matrix.
    static CompactMatrix fromHalf(std::vector<std::uint16_t> bits, std::int64_t rows, std::int64_t cols, bool bf16);

    /// The row-major [rows, cols] `values` in the fewest bytes that hold every one exactly: codes
    /// times one float32 scale per run of consecutive values along a row (down a column when
    /// `runsAlongColumns`), for the longest run length (the whole line, 256, 128, ..., 8) at which
    /// every value comes back. The forms, smallest first:
    /// - int codes on an integer lattice, float(code) * scale: what a quantizer on an integer grid
    ///   (INT, MX, NVFP4) produces, whatever method placed the codes. Two to a byte where each run's
    ///   span at most 16 values (with an offset per run where they leave -8..7: INT4 asymmetric's
    ///   q - zero), else a byte each;
    /// - 4-bit codes into one of `codeBooks` (each at most CompactMatrixView::kCodeBookSize values),
    ///   float(table[code] * scale): code-book formats (NF4, SULQ, log2), and FP4 (MXFP4, NVFP4) with
    ///   its E2M1 values as a book;
    /// - one-byte codes in one of the `miniFloats` layouts (at most 8 bits, tried in the order given),
    ///   float(decode(code) * scale): FP8 and FP6 elements (MX blocks, scaled FP8); 4-bit layouts two
    ///   to a byte;
    /// - one-byte int codes plus an offset per run, where the lattice codes reach past int8 but each
    ///   run's span at most 256 values (8-bit asymmetric INT's q - zero);
    /// - BF16, when every value is a BF16; else nothing.
    /// A zero is held as +0: a product cannot tell -0 from +0, as every sum starts at +0.
    static std::optional<CompactMatrix> exactly(std::span<const float> values, std::int64_t rows, std::int64_t cols,
                                                bool runsAlongColumns,
                                                std::span<const std::vector<float>> codeBooks = {},
                                                std::span<const MiniFloatLayout> miniFloats = {});

    /// Codes times a float32 scale minus a float32 min per run of `run` consecutive values along each
    /// row of a row-major [rows, cols] matrix (cols a multiple of run): element = float(code) * scale -
    /// min, two roundings, the GGUF K-quants' form (Q2_K, Q4_K, Q5_K: d·sc·q − dmin·m) held as stored.
    /// codes[r * cols + c] in 0..127 (two to a byte where all lie in 0..15); scales and mins [rows,
    /// cols / run]. Throws Error for sizes that disagree or codes past 127.
    static CompactMatrix scaledWithMins(std::vector<std::uint8_t> codes, std::vector<float> scales,
                                        std::vector<float> mins, std::int64_t rows, std::int64_t cols,
                                        std::int64_t run);

    CompactMatrixView view() const;
    std::int64_t rows() const { return m_view.rows; }
    std::int64_t cols() const { return m_view.cols; }
    std::int64_t numel() const { return m_view.rows * m_view.cols; }
    /// Bytes held: elements and scales.
    std::size_t bytes() const;
    /// Every value as float32, row-major: the numbers the products read.
    std::vector<float> toFloats() const;

private:
    /// Packs the one-byte codes two to a byte where each fits in 4 bits; false (unchanged) otherwise.
    bool packNibbles();

    CompactMatrixView m_view; // its pointers are re-aimed by view()
    std::vector<std::uint16_t> m_half;
    std::vector<std::int8_t> m_codes; // a code book's codes are their uint8 bits
    std::vector<float> m_scales;
    std::vector<float> m_table; // CodeBook: kCodeBookSize values
    std::vector<std::int8_t> m_offsets; // ScaledInt8: one per run (INT4 asymmetric nibbles, 8-bit asymmetric bytes), or none (all 0)
    std::vector<float> m_mins; // ScaledInt8: one per run (K-quants), or none (all 0)
};

/// Allows or forbids compact forms from CompactMatrix::exactly (forbidden, it finds none and the
/// forward pass holds replaced weights in float32: tests and benchmarks compare the two); returns the
/// previous setting.
bool allowCompactWeights(bool allowed);
/// The setting allowCompactWeights made (true unless forbidden).
bool compactWeightsAllowed();

#if defined(__AVX2__)
/// Eight code-book values for the indices 0..15 in `idx`, the book's halves in `low` and `high`: two
/// permutes, bit 3 picking the half. Shared by the products' conversion and the search for codes.
inline __m256 codeBookValues(__m256i idx, __m256 low, __m256 high) {
    const __m256 upper = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)); // bit 3 as the sign bit
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(low, idx), _mm256_permutevar8x32_ps(high, idx), upper);
}

/// MiniFloatLayout::decode of eight codes at once: the magnitude bits moved to a float32's fields and
/// scaled by 2^(127 - bias), the sign moved to bit 31. Shared by the products' conversion and the
/// search for codes; its constants are set up once.
struct MiniFloatDecoder {
    __m256i magnitudeMask, signBit;
    __m128i toMantissa, toSign;
    __m256 scaleUp;
    explicit MiniFloatDecoder(const MiniFloatLayout& l)
        : magnitudeMask(_mm256_set1_epi32(static_cast<int>((1u << (l.exponent + l.mantissa)) - 1u))),
          signBit(_mm256_set1_epi32(static_cast<int>(1u << (l.exponent + l.mantissa)))),
          toMantissa(_mm_cvtsi32_si128(23 - l.mantissa)), toSign(_mm_cvtsi32_si128(31 - l.exponent - l.mantissa)),
          scaleUp(_mm256_set1_ps(l.scaleUp())) {}
    __m256 operator()(__m256i codes) const {
        const __m256i magnitude = _mm256_sll_epi32(_mm256_and_si256(codes, magnitudeMask), toMantissa);
        const __m256i sign = _mm256_sll_epi32(_mm256_and_si256(codes, signBit), toSign);
        return _mm256_or_ps(_mm256_mul_ps(_mm256_castsi256_ps(magnitude), scaleUp), _mm256_castsi256_ps(sign));
    }
};
#endif

} // namespace qs::core
