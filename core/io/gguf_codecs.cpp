// SPDX-License-Identifier: MIT
// GGUF block codecs: the ggml block layouts, one dequantizer (and, where this engine writes the type,
// one reference quantizer) per GGUF tensor type, and the type table that ties them to ids and names.
#include "io/gguf.h"

#include "base/error.h"
#include "tensor/half.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

namespace qs::core {

namespace {

// ---- block layouts (ggml-common.h) -------------------------------------------------------------
constexpr int kQK = 32;                                         // elements of a Q4_0/Q4_1/Q5_x/Q8_0 block
constexpr int kQKK = 256;                                       // elements of a K-quant super-block
constexpr int kQ4_0Bytes = 2 + kQK / 2;                         // f16 d, 16 nibble bytes
constexpr int kQ4_1Bytes = 4 + kQK / 2;                         // f16 d, f16 m, 16 nibble bytes
constexpr int kQ5_0Bytes = 2 + 4 + kQK / 2;                     // f16 d, u32 qh, 16 bytes
constexpr int kQ5_1Bytes = 4 + 4 + kQK / 2;                     // f16 d, f16 m, u32 qh, 16 bytes
constexpr int kQ8_0Bytes = 2 + kQK;                             // f16 d, 32 int8
constexpr int kQ2_KBytes = kQKK / 16 + kQKK / 4 + 4;             // scales[16], qs[64], d, dmin
constexpr int kQ3_KBytes = kQKK / 8 + kQKK / 4 + 12 + 2;        // hmask[32], qs[64], scales[12], d
constexpr int kQ4_KBytes = 4 + 12 + kQKK / 2;                   // d, dmin, scales[12], qs[128]
constexpr int kQ5_KBytes = 4 + 12 + kQKK / 8 + kQKK / 2;        // + qh[32]
constexpr int kQ6_KBytes = kQKK / 2 + kQKK / 4 + kQKK / 16 + 2; // ql[128], qh[64], scales[16], d
static_assert(kQ4_0Bytes == 18 && kQ4_1Bytes == 20 && kQ5_0Bytes == 22 && kQ5_1Bytes == 24);
static_assert(kQ2_KBytes == 84 && kQ3_KBytes == 110);
static_assert(kQ8_0Bytes == 34 && kQ4_KBytes == 144 && kQ5_KBytes == 176 && kQ6_KBytes == 210);

std::uint16_t loadU16(const std::byte* p) {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
float loadHalf(const std::byte* p) {
    return f16ToF32(loadU16(p));
}
void storeU16(std::byte* p, std::uint16_t v) {
    std::memcpy(p, &v, 2);
}
std::uint8_t byteAt(const std::byte* p, int i) {
    return static_cast<std::uint8_t>(p[i]);
}

void dequantF32(const std::byte* s, float* y, std::int64_t n) {
    std::memcpy(y, s, n * sizeof(float));
}
void dequantF16(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i)
        y[i] = f16ToF32(loadU16(s + 2 * i));
}
void dequantBf16(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i)
        y[i] = bf16ToF32(loadU16(s + 2 * i));
}

void dequantQ4_0(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQK; ++b, s += kQ4_0Bytes, y += kQK) {
        const float d = loadHalf(s);
        for (int j = 0; j < kQK / 2; ++j) {
            const std::uint8_t q = byteAt(s, 2 + j);
            y[j] = static_cast<float>((q & 0x0F) - 8) * d;
            y[j + kQK / 2] = static_cast<float>((q >> 4) - 8) * d;
        }
    }
}

void dequantQ4_1(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQK; ++b, s += kQ4_1Bytes, y += kQK) {
        const float d = loadHalf(s), m = loadHalf(s + 2);
        for (int j = 0; j < kQK / 2; ++j) {
            const std::uint8_t q = byteAt(s, 4 + j);
            y[j] = static_cast<float>(q & 0x0F) * d + m;
            y[j + kQK / 2] = static_cast<float>(q >> 4) * d + m;
        }
    }
}

void dequantQ5_0(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQK; ++b, s += kQ5_0Bytes, y += kQK) {
        const float d = loadHalf(s);
        std::uint32_t qh;
        std::memcpy(&qh, s + 2, 4);
        for (int j = 0; j < kQK / 2; ++j) {
            const std::uint8_t q = byteAt(s, 6 + j);
            const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            y[j] = static_cast<float>(((q & 0x0F) | h0) - 16) * d;
            y[j + kQK / 2] = static_cast<float>(((q >> 4) | h1) - 16) * d;
        }
    }
}

void dequantQ5_1(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQK; ++b, s += kQ5_1Bytes, y += kQK) {
        const float d = loadHalf(s), m = loadHalf(s + 2);
        std::uint32_t qh;
        std::memcpy(&qh, s + 4, 4);
        for (int j = 0; j < kQK / 2; ++j) {
            const std::uint8_t q = byteAt(s, 8 + j);
            const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            y[j] = static_cast<float>((q & 0x0F) | h0) * d + m;
            y[j + kQK / 2] = static_cast<float>((q >> 4) | h1) * d + m;
        }
    }
}

void dequantQ8_0(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQK; ++b, s += kQ8_0Bytes, y += kQK) {
        const float d = loadHalf(s);
        for (int j = 0; j < kQK; ++j)
            y[j] = static_cast<float>(static_cast<std::int8_t>(byteAt(s, 2 + j))) * d;
    }
}

// 6-bit scale and min number j of a Q4_K/Q5_K super-block (ggml get_scale_min_k4).
void scaleMinK4(int j, const std::byte* q, int& sc, int& m) {
    if (j < 4) {
        sc = byteAt(q, j) & 63;
        m = byteAt(q, j + 4) & 63;
    } else {
        sc = (byteAt(q, j + 4) & 0x0F) | ((byteAt(q, j - 4) >> 6) << 4);
        m = (byteAt(q, j + 4) >> 4) | ((byteAt(q, j) >> 6) << 4);
    }
}

// Element e = 128 n + 32 j + l of a Q2_K/Q3_K super-block takes bits 2j..2j+1 of quant byte 32 n + l,
// and the scale of its sub-block of 16, e / 16.
int twoBits(const std::byte* qs, int e) { return (byteAt(qs, e / 128 * 32 + e % 32) >> (e % 128 / 32 * 2)) & 3; }

// Q2_K: per sub-block of 16, code q (2 bits), scale d·sc and min dmin·m (4-bit sc, m in one byte).
constexpr int kQ2_KRun = 16;

void splitQ2_K(const std::byte* s, std::int64_t n, std::uint8_t* codes, float* scales, float* mins) {
    for (std::int64_t b = 0; b < n / kQKK; ++b, s += kQ2_KBytes) {
        const float d = loadHalf(s + 80), dmin = loadHalf(s + 82);
        for (int r = 0; r < kQKK / kQ2_KRun; ++r) {
            *scales++ = d * static_cast<float>(byteAt(s, r) & 0x0F);
            *mins++ = dmin * static_cast<float>(byteAt(s, r) >> 4);
        }
        for (int e = 0; e < kQKK; ++e) *codes++ = static_cast<std::uint8_t>(twoBits(s + 16, e));
    }
}

// The 6-bit scale of Q3_K sub-block i: its low 4 bits a nibble of bytes 0..7, its high 2 bits from
// bytes 8..11 (ggml's kmask unpacking).
int scaleQ3_K(const std::byte* sc, int i) {
    const int low = i < 8 ? byteAt(sc, i) & 0x0F : byteAt(sc, i - 8) >> 4;
    return low | ((byteAt(sc, 8 + i % 4) >> (2 * (i / 4)) & 3) << 4);
}

// Q3_K: code (2 bits, minus 4 where the high-mask bit is clear) times d·(sc − 32), one scale per 16.
void dequantQ3_K(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQKK; ++b, s += kQ3_KBytes) {
        const std::byte* hmask = s;
        const float d = loadHalf(s + 108);
        for (int e = 0; e < kQKK; ++e) {
            const bool high = (byteAt(hmask, e % 32) >> (e / 128 * 4 + e % 128 / 32)) & 1;
            const int code = twoBits(s + 32, e) - (high ? 0 : 4);
            *y++ = d * static_cast<float>(scaleQ3_K(s + 96, e / 16) - 32) * static_cast<float>(code);
        }
    }
}

// Q4_K and Q5_K: per sub-block of 32, code q, scale d·sc and min dmin·m (ggml's d1, m1).
constexpr int kKRun = 32;

// A Q4_K/Q5_K super-block's 8 scales d·sc and mins dmin·m (d and dmin lead the block, the packed
// 6-bit sc and m follow); advances scales and mins past them.
void scalesAndMinsK4(const std::byte* s, float*& scales, float*& mins) {
    const float d = loadHalf(s), dmin = loadHalf(s + 2);
    for (int is = 0; is < kQKK / kKRun; ++is) {
        int sc, m;
        scaleMinK4(is, s + 4, sc, m);
        *scales++ = d * static_cast<float>(sc);
        *mins++ = dmin * static_cast<float>(m);
    }
}

void splitQ4_K(const std::byte* s, std::int64_t n, std::uint8_t* codes, float* scales, float* mins) {
    for (std::int64_t b = 0; b < n / kQKK; ++b, s += kQ4_KBytes) {
        const std::byte* q = s + 16;
        scalesAndMinsK4(s, scales, mins);
        for (int j = 0; j < kQKK; j += 64, q += 32) { // 32 low nibbles, then the same bytes' high ones
            for (int l = 0; l < 32; ++l) *codes++ = byteAt(q, l) & 0x0F;
            for (int l = 0; l < 32; ++l) *codes++ = byteAt(q, l) >> 4;
        }
    }
}

void splitQ5_K(const std::byte* s, std::int64_t n, std::uint8_t* codes, float* scales, float* mins) {
    for (std::int64_t b = 0; b < n / kQKK; ++b, s += kQ5_KBytes) {
        const std::byte* qh = s + 16;
        const std::byte* ql = s + 48;
        scalesAndMinsK4(s, scales, mins);
        std::uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < kQKK; j += 64, ql += 32, u1 <<= 2, u2 <<= 2) {
            for (int l = 0; l < 32; ++l) *codes++ = static_cast<std::uint8_t>((byteAt(ql, l) & 0x0F) + (byteAt(qh, l) & u1 ? 16 : 0));
            for (int l = 0; l < 32; ++l) *codes++ = static_cast<std::uint8_t>((byteAt(ql, l) >> 4) + (byteAt(qh, l) & u2 ? 16 : 0));
        }
    }
}

// A split type's dequantizer: its split, then float(code) * scale - min, one super-block at a time.
template <GgufSplitFn split, int kBlockBytes, int kRun>
void dequantSplit(const std::byte* s, float* y, std::int64_t n) {
    std::uint8_t codes[kQKK];
    float scales[kQKK / kRun], mins[kQKK / kRun];
    for (std::int64_t b = 0; b < n / kQKK; ++b, s += kBlockBytes) {
        split(s, kQKK, codes, scales, mins);
        for (int i = 0; i < kQKK; ++i) *y++ = static_cast<float>(codes[i]) * scales[i / kRun] - mins[i / kRun];
    }
}

void dequantQ6_K(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQKK; ++b, s += kQ6_KBytes) {
        const std::byte* ql = s;
        const std::byte* qh = s + 128;
        const std::byte* sc = s + 192;
        const float d = loadHalf(s + 208);
        for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((byteAt(ql, l) & 0x0F) | (((byteAt(qh, l) >> 0) & 3) << 4)) - 32;
                const int q2 = ((byteAt(ql, l + 32) & 0x0F) | (((byteAt(qh, l) >> 2) & 3) << 4)) - 32;
                const int q3 = ((byteAt(ql, l) >> 4) | (((byteAt(qh, l) >> 4) & 3) << 4)) - 32;
                const int q4 = ((byteAt(ql, l + 32) >> 4) | (((byteAt(qh, l) >> 6) & 3) << 4)) - 32;
                const auto scale = [&](int k) {
                    return static_cast<float>(static_cast<std::int8_t>(byteAt(sc, k)));
                };
                y[l + 0] = d * scale(is + 0) * static_cast<float>(q1);
                y[l + 32] = d * scale(is + 2) * static_cast<float>(q2);
                y[l + 64] = d * scale(is + 4) * static_cast<float>(q3);
                y[l + 96] = d * scale(is + 6) * static_cast<float>(q4);
            }
        }
    }
}

void quantF32(const float* x, std::byte* y, std::int64_t n) {
    std::memcpy(y, x, n * sizeof(float));
}
void quantF16(const float* x, std::byte* y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i)
        storeU16(y + 2 * i, f32ToF16(x[i]));
}
void quantBf16(const float* x, std::byte* y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i)
        storeU16(y + 2 * i, f32ToBf16(x[i]));
}

// ggml quantize_row_q8_0_ref: d = amax / 127, q = round(x / d).
void quantQ8_0(const float* x, std::byte* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQK; ++b, x += kQK, y += kQ8_0Bytes) {
        float amax = 0.0f;
        for (int j = 0; j < kQK; ++j)
            amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        storeU16(y, f32ToF16(d));
        for (int j = 0; j < kQK; ++j)
            y[2 + j] = static_cast<std::byte>(static_cast<std::int8_t>(std::roundf(x[j] * id)));
    }
}

// ggml quantize_row_q4_0_ref: the signed value of largest magnitude maps to -8, d = max / -8,
// q = min(15, trunc(x / d + 8.5)).
void quantQ4_0(const float* x, std::byte* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQK; ++b, x += kQK, y += kQ4_0Bytes) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < kQK; ++j)
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        storeU16(y, f32ToF16(d));
        for (int j = 0; j < kQK / 2; ++j) {
            const int q0 = std::min(15, static_cast<int>(static_cast<std::int8_t>(x[j] * id + 8.5f)));
            const int q1 =
                std::min(15, static_cast<int>(static_cast<std::int8_t>(x[j + kQK / 2] * id + 8.5f)));
            y[2 + j] = static_cast<std::byte>(q0 | (q1 << 4));
        }
    }
}

// ggml's reference Q4_1: per block of 32 the min m and d = (max - min) / 15 (both stored as fp16),
// q = min(15, trunc((x - m) / d + 0.5)); value = q * d + m.
void quantQ4_1(const float* x, std::byte* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQK; ++b, x += kQK, y += kQ4_1Bytes) {
        float min = x[0], max = x[0];
        for (int j = 1; j < kQK; ++j) {
            min = std::min(min, x[j]);
            max = std::max(max, x[j]);
        }
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        storeU16(y, f32ToF16(d));
        storeU16(y + 2, f32ToF16(min));
        for (int j = 0; j < kQK / 2; ++j) {
            const int q0 = std::min(15, static_cast<int>(static_cast<std::int8_t>((x[j] - min) * id + 0.5f)));
            const int q1 = std::min(15, static_cast<int>(static_cast<std::int8_t>((x[j + kQK / 2] - min) * id + 0.5f)));
            y[4 + j] = static_cast<std::byte>(q0 | (q1 << 4));
        }
    }
}

// The table: one row per type this engine knows (append-only ids come from ggml).
constexpr std::array<GgufTypeTraits, 20> kTypes{{
    {GgufType::F32, "F32", 1, 4, dequantF32, quantF32, 0.0f},
    {GgufType::F16, "F16", 1, 2, dequantF16, quantF16, 1.0f / 1024},
    {GgufType::Q4_0, "Q4_0", kQK, kQ4_0Bytes, dequantQ4_0, quantQ4_0, 0.13f}, // -max clamps to -7/8 max
    {GgufType::Q4_1, "Q4_1", kQK, kQ4_1Bytes, dequantQ4_1, quantQ4_1, 0.075f}, // d/2 = (max-min)/30 + f16 rounding of d and m
    {GgufType::Q5_0, "Q5_0", kQK, kQ5_0Bytes, dequantQ5_0, nullptr, 0.0f},
    {GgufType::Q5_1, "Q5_1", kQK, kQ5_1Bytes, dequantQ5_1, nullptr, 0.0f},
    {GgufType::Q8_0, "Q8_0", kQK, kQ8_0Bytes, dequantQ8_0, quantQ8_0, 1.0f / 200}, // d/2 + f16 rounding of d
    {GgufType::Q8_1, "Q8_1", kQK, 4 + kQK, nullptr, nullptr, 0.0f},
    {GgufType::Q2_K, "Q2_K", kQKK, kQ2_KBytes, dequantSplit<splitQ2_K, kQ2_KBytes, kQ2_KRun>, nullptr, 0.0f, splitQ2_K, kQ2_KRun},
    {GgufType::Q3_K, "Q3_K", kQKK, kQ3_KBytes, dequantQ3_K, nullptr, 0.0f}, // one scale per 16: codes on a lattice
    {GgufType::Q4_K, "Q4_K", kQKK, kQ4_KBytes, dequantSplit<splitQ4_K, kQ4_KBytes, kKRun>, nullptr, 0.0f, splitQ4_K, kKRun},
    {GgufType::Q5_K, "Q5_K", kQKK, kQ5_KBytes, dequantSplit<splitQ5_K, kQ5_KBytes, kKRun>, nullptr, 0.0f, splitQ5_K, kKRun},
    {GgufType::Q6_K, "Q6_K", kQKK, kQ6_KBytes, dequantQ6_K, nullptr, 0.0f},
    {GgufType::Q8_K, "Q8_K", kQKK, 4 + kQKK + 32, nullptr, nullptr, 0.0f},
    {GgufType::I8, "I8", 1, 1, nullptr, nullptr, 0.0f},
    {GgufType::I16, "I16", 1, 2, nullptr, nullptr, 0.0f},
    {GgufType::I32, "I32", 1, 4, nullptr, nullptr, 0.0f},
    {GgufType::I64, "I64", 1, 8, nullptr, nullptr, 0.0f},
    {GgufType::F64, "F64", 1, 8, nullptr, nullptr, 0.0f},
    {GgufType::BF16, "BF16", 1, 2, dequantBf16, quantBf16, 1.0f / 128},
}};

} // namespace

// ---- traits -------------------------------------------------------------------------------------

const GgufTypeTraits* ggufTypeTraits(std::uint32_t id) {
    for (const auto& t : kTypes)
        if (static_cast<std::uint32_t>(t.type) == id) return &t;
    return nullptr;
}

const GgufTypeTraits& ggufTypeTraits(GgufType type) {
    const GgufTypeTraits* t = ggufTypeTraits(static_cast<std::uint32_t>(type));
    if (!t) throw Error("GGUF: unknown tensor type id " + std::to_string(static_cast<std::uint32_t>(type)));
    return *t;
}

std::string ggufTypeName(std::uint32_t id) {
    const GgufTypeTraits* t = ggufTypeTraits(id);
    return t ? std::string(t->name) : "type#" + std::to_string(id);
}

std::uint64_t ggufByteSize(GgufType type, std::int64_t n) {
    const auto& t = ggufTypeTraits(type);
    if (n < 0 || n % t.blockSize != 0)
        throw Error(std::string("GGUF: ") + std::to_string(n) + " elements are not a whole number of " +
                    t.name + " blocks of " + std::to_string(t.blockSize));
    return static_cast<std::uint64_t>(n / t.blockSize) * static_cast<std::uint64_t>(t.blockBytes);
}

} // namespace qs::core
