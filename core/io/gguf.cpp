// SPDX-License-Identifier: MIT
#include "io/gguf.h"

#include "io/file_util.h"
#include "io/mapped_file.h"
#include "tensor/error.h"
#include "tensor/half.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

namespace qs::core {
namespace fs = std::filesystem;

namespace {

// ---- block layouts (ggml-common.h) -------------------------------------------------------------
constexpr int kQK = 32;                                         // elements of a Q4_0/Q4_1/Q5_x/Q8_0 block
constexpr int kQKK = 256;                                       // elements of a K-quant super-block
constexpr int kQ4_0Bytes = 2 + kQK / 2;                         // f16 d, 16 nibble bytes
constexpr int kQ4_1Bytes = 4 + kQK / 2;                         // f16 d, f16 m, 16 nibble bytes
constexpr int kQ5_0Bytes = 2 + 4 + kQK / 2;                     // f16 d, u32 qh, 16 bytes
constexpr int kQ5_1Bytes = 4 + 4 + kQK / 2;                     // f16 d, f16 m, u32 qh, 16 bytes
constexpr int kQ8_0Bytes = 2 + kQK;                             // f16 d, 32 int8
constexpr int kQ4_KBytes = 4 + 12 + kQKK / 2;                   // d, dmin, scales[12], qs[128]
constexpr int kQ5_KBytes = 4 + 12 + kQKK / 8 + kQKK / 2;        // + qh[32]
constexpr int kQ6_KBytes = kQKK / 2 + kQKK / 4 + kQKK / 16 + 2; // ql[128], qh[64], scales[16], d
static_assert(kQ4_0Bytes == 18 && kQ4_1Bytes == 20 && kQ5_0Bytes == 22 && kQ5_1Bytes == 24);
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

void dequantQ4_K(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQKK; ++b, s += kQ4_KBytes) {
        const float d = loadHalf(s), dmin = loadHalf(s + 2);
        const std::byte* scales = s + 4;
        const std::byte* q = s + 16;
        for (int j = 0, is = 0; j < kQKK; j += 64, is += 2, q += 32) {
            int sc, m;
            scaleMinK4(is, scales, sc, m);
            const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
            scaleMinK4(is + 1, scales, sc, m);
            const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * static_cast<float>(byteAt(q, l) & 0x0F) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * static_cast<float>(byteAt(q, l) >> 4) - m2;
        }
    }
}

void dequantQ5_K(const std::byte* s, float* y, std::int64_t n) {
    for (std::int64_t b = 0; b < n / kQKK; ++b, s += kQ5_KBytes) {
        const float d = loadHalf(s), dmin = loadHalf(s + 2);
        const std::byte* scales = s + 4;
        const std::byte* qh = s + 16;
        const std::byte* ql = s + 48;
        std::uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < kQKK; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            int sc, m;
            scaleMinK4(is, scales, sc, m);
            const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
            scaleMinK4(is + 1, scales, sc, m);
            const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * static_cast<float>((byteAt(ql, l) & 0x0F) + (byteAt(qh, l) & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * static_cast<float>((byteAt(ql, l) >> 4) + (byteAt(qh, l) & u2 ? 16 : 0)) - m2;
        }
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
    {GgufType::Q2_K, "Q2_K", kQKK, 84, nullptr, nullptr, 0.0f},
    {GgufType::Q3_K, "Q3_K", kQKK, 110, nullptr, nullptr, 0.0f},
    {GgufType::Q4_K, "Q4_K", kQKK, kQ4_KBytes, dequantQ4_K, nullptr, 0.0f},
    {GgufType::Q5_K, "Q5_K", kQKK, kQ5_KBytes, dequantQ5_K, nullptr, 0.0f},
    {GgufType::Q6_K, "Q6_K", kQKK, kQ6_KBytes, dequantQ6_K, nullptr, 0.0f},
    {GgufType::Q8_K, "Q8_K", kQKK, 4 + kQKK + 32, nullptr, nullptr, 0.0f},
    {GgufType::I8, "I8", 1, 1, nullptr, nullptr, 0.0f},
    {GgufType::I16, "I16", 1, 2, nullptr, nullptr, 0.0f},
    {GgufType::I32, "I32", 1, 4, nullptr, nullptr, 0.0f},
    {GgufType::I64, "I64", 1, 8, nullptr, nullptr, 0.0f},
    {GgufType::F64, "F64", 1, 8, nullptr, nullptr, 0.0f},
    {GgufType::BF16, "BF16", 1, 2, dequantBf16, quantBf16, 1.0f / 128},
}};

constexpr std::uint64_t kMaxDims = 4; // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;     // nested metadata arrays
constexpr std::uint64_t kMaxAlignment = 1u << 20;

[[noreturn]] void fail(const fs::path& path, const std::string& problem) {
    throw Error(path.string() + ": " + problem);
}

// Bounds-checked little-endian reader over the mapping; every failure names the file.
class Cursor {
public:
    Cursor(const MappedFile& f) : m_f(f) {}
    std::uint64_t pos() const { return m_pos; }
    std::uint64_t remaining() const { return m_f.size() - m_pos; }
    void need(std::uint64_t n, const std::string& what) const {
        if (n > remaining())
            fail(m_f.path(), "truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                                 std::to_string(m_pos) + " but the file has " + std::to_string(m_f.size()) +
                                 " bytes");
    }
    template <class T> T read(const std::string& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, m_f.data() + m_pos, sizeof(T));
        m_pos += sizeof(T);
        return v;
    }
    std::string readString(const std::string& what) {
        const auto len = read<std::uint64_t>(what + " length");
        if (len > remaining())
            fail(m_f.path(), what + " has length " + std::to_string(len) + " at offset " +
                                 std::to_string(m_pos - 8) + ", past the end of the file (" +
                                 std::to_string(m_f.size()) + " bytes)");
        std::string s(reinterpret_cast<const char*>(m_f.data() + m_pos), len);
        m_pos += len;
        return s;
    }

private:
    const MappedFile& m_f;
    std::uint64_t m_pos = 0;
};

// Smallest encoded size of one value of `t` (for count-vs-file-size checks).
std::uint64_t minValueBytes(GgufValueType t) {
    switch (t) {
    case GgufValueType::U8:
    case GgufValueType::I8:
    case GgufValueType::Bool:
        return 1;
    case GgufValueType::U16:
    case GgufValueType::I16:
        return 2;
    case GgufValueType::U32:
    case GgufValueType::I32:
    case GgufValueType::F32:
        return 4;
    case GgufValueType::String:
    case GgufValueType::U64:
    case GgufValueType::I64:
    case GgufValueType::F64:
        return 8;
    case GgufValueType::Array:
        return 12;
    }
    return 1;
}

bool validValueType(std::uint32_t t) {
    return t <= static_cast<std::uint32_t>(GgufValueType::F64);
}

GgufValue readValue(Cursor& c, const fs::path& path, GgufValueType t, const std::string& key, int depth) {
    GgufValue v;
    v.type = t;
    switch (t) {
    case GgufValueType::U8:
        v.u = c.read<std::uint8_t>(key);
        break;
    case GgufValueType::I8:
        v.i = c.read<std::int8_t>(key);
        break;
    case GgufValueType::U16:
        v.u = c.read<std::uint16_t>(key);
        break;
    case GgufValueType::I16:
        v.i = c.read<std::int16_t>(key);
        break;
    case GgufValueType::U32:
        v.u = c.read<std::uint32_t>(key);
        break;
    case GgufValueType::I32:
        v.i = c.read<std::int32_t>(key);
        break;
    case GgufValueType::U64:
        v.u = c.read<std::uint64_t>(key);
        break;
    case GgufValueType::I64:
        v.i = c.read<std::int64_t>(key);
        break;
    case GgufValueType::F32:
        v.f = c.read<float>(key);
        break;
    case GgufValueType::F64:
        v.f = c.read<double>(key);
        break;
    case GgufValueType::Bool: {
        const auto b = c.read<std::uint8_t>(key);
        if (b > 1) fail(path, "metadata '" + key + "': bool value " + std::to_string(b) + " is not 0 or 1");
        v.u = b;
        break;
    }
    case GgufValueType::String:
        v.str = c.readString("metadata '" + key + "' string");
        break;
    case GgufValueType::Array: {
        if (depth >= kMaxArrayDepth) fail(path, "metadata '" + key + "': arrays nested too deeply");
        const auto et = c.read<std::uint32_t>(key + " array type");
        if (!validValueType(et))
            fail(path, "metadata '" + key + "': unknown array element type " + std::to_string(et));
        v.elemType = static_cast<GgufValueType>(et);
        const auto n = c.read<std::uint64_t>(key + " array length");
        if (n > c.remaining() / minValueBytes(v.elemType))
            fail(path, "metadata '" + key + "': array of " + std::to_string(n) +
                           " elements does not fit in the rest of the file (" +
                           std::to_string(c.remaining()) + " bytes)");
        v.array.reserve(n);
        for (std::uint64_t k = 0; k < n; ++k)
            v.array.push_back(readValue(c, path, v.elemType, key, depth + 1));
        break;
    }
    }
    return v;
}

std::uint64_t alignUp(std::uint64_t x, std::uint64_t a) {
    return (x + a - 1) / a * a;
}

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

// ---- values -------------------------------------------------------------------------------------

std::optional<std::int64_t> GgufValue::toInt() const {
    switch (type) {
    case GgufValueType::U8:
    case GgufValueType::U16:
    case GgufValueType::U32:
    case GgufValueType::U64:
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(u);
    case GgufValueType::I8:
    case GgufValueType::I16:
    case GgufValueType::I32:
    case GgufValueType::I64:
        return i;
    default:
        return std::nullopt;
    }
}

std::optional<double> GgufValue::toDouble() const {
    if (type == GgufValueType::F32 || type == GgufValueType::F64) return f;
    if (const auto v = toInt()) return static_cast<double>(*v);
    return std::nullopt;
}

const std::string* GgufValue::toString() const {
    return type == GgufValueType::String ? &str : nullptr;
}

GgufValue GgufValue::ofU32(std::uint32_t v) {
    GgufValue r;
    r.type = GgufValueType::U32;
    r.u = v;
    return r;
}
GgufValue GgufValue::ofU64(std::uint64_t v) {
    GgufValue r;
    r.type = GgufValueType::U64;
    r.u = v;
    return r;
}
GgufValue GgufValue::ofI32(std::int32_t v) {
    GgufValue r;
    r.type = GgufValueType::I32;
    r.i = v;
    return r;
}
GgufValue GgufValue::ofF32(float v) {
    GgufValue r;
    r.type = GgufValueType::F32;
    r.f = v;
    return r;
}
GgufValue GgufValue::ofBool(bool v) {
    GgufValue r;
    r.type = GgufValueType::Bool;
    r.u = v ? 1 : 0;
    return r;
}
GgufValue GgufValue::ofString(std::string v) {
    GgufValue r;
    r.type = GgufValueType::String;
    r.str = std::move(v);
    return r;
}
GgufValue GgufValue::ofStrings(const std::vector<std::string>& v) {
    GgufValue r;
    r.type = GgufValueType::Array;
    r.elemType = GgufValueType::String;
    for (const auto& s : v)
        r.array.push_back(ofString(s));
    return r;
}

// ---- reader -------------------------------------------------------------------------------------

GgufFile GgufFile::open(const fs::path& path) {
    GgufFile g;
    g.m_file = MappedFile::open(path);
    const MappedFile& f = *g.m_file;
    Cursor c(f);
    if (f.size() < 4 || std::memcmp(f.data(), "GGUF", 4) != 0)
        fail(path, "not a GGUF file (bad magic; expected \"GGUF\")");
    c.read<std::uint32_t>("magic");
    g.m_version = c.read<std::uint32_t>("version");
    if (g.m_version == 1) fail(path, "GGUF version 1 is not supported (versions 2 and 3 are)");
    if (g.m_version != 2 && g.m_version != 3) {
        const std::string hint = (g.m_version & 0xFFFF) == 0 ? " (a big-endian file?)" : "";
        fail(path, "unsupported GGUF version " + std::to_string(g.m_version) + hint);
    }
    const auto tensorCount = c.read<std::uint64_t>("tensor count");
    const auto kvCount = c.read<std::uint64_t>("metadata count");
    // A key/value takes at least 13 bytes (key length, type, 1-byte value); a tensor info at least 24.
    if (kvCount > c.remaining() / 13)
        fail(path, "metadata count " + std::to_string(kvCount) + " is impossible for a file of " +
                       std::to_string(f.size()) + " bytes");
    if (tensorCount > c.remaining() / 24)
        fail(path, "tensor count " + std::to_string(tensorCount) + " is impossible for a file of " +
                       std::to_string(f.size()) + " bytes");

    for (std::uint64_t k = 0; k < kvCount; ++k) {
        GgufKv kv;
        kv.key = c.readString("metadata key #" + std::to_string(k));
        if (kv.key.empty()) fail(path, "metadata key #" + std::to_string(k) + " is empty");
        const auto t = c.read<std::uint32_t>("type of metadata '" + kv.key + "'");
        if (!validValueType(t))
            fail(path, "metadata '" + kv.key + "' has unknown value type " + std::to_string(t));
        kv.value = readValue(c, path, static_cast<GgufValueType>(t), kv.key, 0);
        if (!g.m_kvIndex.emplace(kv.key, g.m_kvs.size()).second)
            fail(path, "duplicate metadata key '" + kv.key + "'");
        g.m_kvs.push_back(std::move(kv));
    }

    if (const GgufValue* a = g.findValue("general.alignment")) {
        const auto v = a->toInt();
        if (a->type != GgufValueType::U32 || !v || *v == 0 || (*v & (*v - 1)) != 0 ||
            static_cast<std::uint64_t>(*v) > kMaxAlignment)
            fail(path, "general.alignment must be a u32 power of two (at most " +
                           std::to_string(kMaxAlignment) + ")");
        g.m_alignment = static_cast<std::uint32_t>(*v);
    }

    for (std::uint64_t k = 0; k < tensorCount; ++k) {
        GgufTensorInfo ti;
        ti.name = c.readString("name of tensor #" + std::to_string(k));
        const std::string where = "tensor '" + ti.name + "'";
        const auto nDims = c.read<std::uint32_t>(where + " dims count");
        if (nDims == 0 || nDims > kMaxDims)
            fail(path, where + " has " + std::to_string(nDims) + " dims (1 to " + std::to_string(kMaxDims) +
                           " allowed)");
        std::uint64_t count = 1;
        for (std::uint32_t d = 0; d < nDims; ++d) {
            const auto ne = c.read<std::uint64_t>(where + " dim");
            if (ne == 0 || ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
                count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ne)
                fail(path,
                     where + " has a bad dim " + std::to_string(ne) + " (zero or overflowing element count)");
            count *= ne;
            ti.ne.push_back(ne);
        }
        for (auto it = ti.ne.rbegin(); it != ti.ne.rend(); ++it)
            ti.shape.push_back(static_cast<std::int64_t>(*it));
        const auto typeId = c.read<std::uint32_t>(where + " type");
        const GgufTypeTraits* traits = ggufTypeTraits(typeId);
        if (!traits) fail(path, where + " has unknown tensor type id " + std::to_string(typeId));
        ti.type = traits->type;
        if (ti.ne[0] % static_cast<std::uint64_t>(traits->blockSize) != 0)
            fail(path, where + ": row length ne[0] = " + std::to_string(ti.ne[0]) +
                           " is not a multiple of the " + traits->name + " block size " +
                           std::to_string(traits->blockSize));
        const std::uint64_t blocks = count / static_cast<std::uint64_t>(traits->blockSize);
        if (blocks >
            std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(traits->blockBytes))
            fail(path, where + " is impossibly large");
        ti.byteSize = blocks * static_cast<std::uint64_t>(traits->blockBytes);
        ti.offset = c.read<std::uint64_t>(where + " offset");
        if (ti.offset % g.m_alignment != 0)
            fail(path, where + " offset " + std::to_string(ti.offset) +
                           " is not a multiple of the alignment " + std::to_string(g.m_alignment));
        if (!g.m_tensorIndex.emplace(ti.name, g.m_tensors.size()).second)
            fail(path, "duplicate tensor name '" + ti.name + "'");
        g.m_tensors.push_back(std::move(ti));
    }

    g.m_dataStart = alignUp(c.pos(), g.m_alignment);
    const std::uint64_t dataSize = f.size() > g.m_dataStart ? f.size() - g.m_dataStart : 0;
    for (const auto& ti : g.m_tensors)
        if (ti.offset > dataSize || ti.byteSize > dataSize - ti.offset)
            fail(path, "tensor '" + ti.name + "' (" + ggufTypeName(static_cast<std::uint32_t>(ti.type)) +
                           " " + shapeToString(ti.shape) + ", " + std::to_string(ti.byteSize) +
                           " bytes at data offset " + std::to_string(ti.offset) +
                           ") ends past the end of the file (data section holds " + std::to_string(dataSize) +
                           " bytes)");
    // No two tensors may share bytes.
    std::vector<const GgufTensorInfo*> byOffset;
    for (const auto& ti : g.m_tensors)
        byOffset.push_back(&ti);
    std::sort(byOffset.begin(), byOffset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (std::size_t k = 1; k < byOffset.size(); ++k)
        if (byOffset[k - 1]->offset + byOffset[k - 1]->byteSize > byOffset[k]->offset)
            fail(path, "tensors '" + byOffset[k - 1]->name + "' and '" + byOffset[k]->name + "' overlap");
    return g;
}

const fs::path& GgufFile::path() const {
    return m_file->path();
}

const GgufValue* GgufFile::findValue(const std::string& key) const {
    const auto it = m_kvIndex.find(key);
    return it == m_kvIndex.end() ? nullptr : &m_kvs[it->second].value;
}

const GgufTensorInfo* GgufFile::find(const std::string& name) const {
    const auto it = m_tensorIndex.find(name);
    return it == m_tensorIndex.end() ? nullptr : &m_tensors[it->second];
}

std::span<const std::byte> GgufFile::rawData(const std::string& name) const {
    const GgufTensorInfo* ti = find(name);
    if (!ti) fail(path(), "no tensor named '" + name + "'");
    return {m_file->data() + m_dataStart + ti->offset, static_cast<std::size_t>(ti->byteSize)};
}

std::vector<float> GgufFile::dequantize(const std::string& name) const {
    const auto raw = rawData(name);
    const GgufTensorInfo& ti = *find(name);
    const auto& traits = ggufTypeTraits(ti.type);
    if (!traits.dequantize)
        fail(path(), "tensor '" + name + "' has type " + traits.name + ", which this engine cannot read yet");
    std::vector<float> out(static_cast<std::size_t>(numel(ti.shape)));
    traits.dequantize(raw.data(), out.data(), static_cast<std::int64_t>(out.size()));
    return out;
}

Tensor GgufFile::tensor(const std::string& name) const {
    const auto raw = rawData(name);
    const GgufTensorInfo& ti = *find(name);
    switch (ti.type) {
    case GgufType::F32:
        return Tensor::view(DType::F32, ti.shape, raw.data(), m_file);
    case GgufType::F16:
        return Tensor::view(DType::F16, ti.shape, raw.data(), m_file);
    case GgufType::BF16:
        return Tensor::view(DType::BF16, ti.shape, raw.data(), m_file);
    default: {
        const std::vector<float> v = dequantize(name);
        return Tensor::fromFloats(ti.shape, v);
    }
    }
}

// ---- writer -------------------------------------------------------------------------------------

std::vector<std::byte> ggufEncode(GgufType type, std::span<const float> values) {
    const auto& t = ggufTypeTraits(type);
    if (!t.quantize) throw Error(std::string("GGUF: cannot encode tensors as ") + t.name);
    std::vector<std::byte> out(ggufByteSize(type, static_cast<std::int64_t>(values.size())));
    t.quantize(values.data(), out.data(), static_cast<std::int64_t>(values.size()));
    return out;
}

namespace {

class ByteSink {
public:
    explicit ByteSink(AtomicFileWriter& w) : m_w(w) {}
    template <class T> void put(T v) { bytes(&v, sizeof v); }
    void str(const std::string& s) {
        put<std::uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void bytes(const void* p, std::size_t n) {
        m_w.write(p, n);
        m_pos += n;
    }
    void padTo(std::uint64_t alignment) {
        static const std::array<char, 64> zeros{};
        std::uint64_t pad = alignUp(m_pos, alignment) - m_pos;
        while (pad) {
            const auto k = std::min<std::uint64_t>(pad, zeros.size());
            bytes(zeros.data(), k);
            pad -= k;
        }
    }
    std::uint64_t pos() const { return m_pos; }

private:
    AtomicFileWriter& m_w;
    std::uint64_t m_pos = 0;
};

void writeValue(ByteSink& s, const GgufValue& v) {
    switch (v.type) {
    case GgufValueType::U8:
        s.put<std::uint8_t>(static_cast<std::uint8_t>(v.u));
        break;
    case GgufValueType::I8:
        s.put<std::int8_t>(static_cast<std::int8_t>(v.i));
        break;
    case GgufValueType::U16:
        s.put<std::uint16_t>(static_cast<std::uint16_t>(v.u));
        break;
    case GgufValueType::I16:
        s.put<std::int16_t>(static_cast<std::int16_t>(v.i));
        break;
    case GgufValueType::U32:
        s.put<std::uint32_t>(static_cast<std::uint32_t>(v.u));
        break;
    case GgufValueType::I32:
        s.put<std::int32_t>(static_cast<std::int32_t>(v.i));
        break;
    case GgufValueType::U64:
        s.put<std::uint64_t>(v.u);
        break;
    case GgufValueType::I64:
        s.put<std::int64_t>(v.i);
        break;
    case GgufValueType::F32:
        s.put<float>(static_cast<float>(v.f));
        break;
    case GgufValueType::F64:
        s.put<double>(v.f);
        break;
    case GgufValueType::Bool:
        s.put<std::uint8_t>(v.u ? 1 : 0);
        break;
    case GgufValueType::String:
        s.str(v.str);
        break;
    case GgufValueType::Array:
        s.put<std::uint32_t>(static_cast<std::uint32_t>(v.elemType));
        s.put<std::uint64_t>(v.array.size());
        for (const auto& e : v.array) {
            if (e.type != v.elemType) throw Error("GGUF: array element of the wrong type");
            writeValue(s, e);
        }
        break;
    }
}

} // namespace

void writeGguf(const fs::path& path, const std::vector<GgufKv>& kvs, const std::vector<GgufWriteItem>& items,
               std::uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment)
        fail(path, "alignment " + std::to_string(alignment) + " is not a power of two");
    std::vector<GgufKv> all = kvs;
    std::set<std::string> keys;
    for (const auto& kv : all)
        if (!keys.insert(kv.key).second) fail(path, "duplicate metadata key '" + kv.key + "'");
    for (const auto& kv : all)
        if (kv.key == "general.alignment" && (kv.value.type != GgufValueType::U32 || kv.value.u != alignment))
            fail(path, "metadata general.alignment must be the u32 " + std::to_string(alignment) +
                           " the file is written with");
    if (alignment != 32 && !keys.count("general.alignment"))
        all.push_back({"general.alignment", GgufValue::ofU32(alignment)});

    // Sizes and offsets first: every check happens before a byte is written.
    std::vector<std::uint64_t> offsets, sizes;
    std::set<std::string> names;
    std::uint64_t off = 0;
    for (const auto& it : items) {
        if (!names.insert(it.name).second) fail(path, "duplicate tensor name '" + it.name + "'");
        const auto* t = ggufTypeTraits(static_cast<std::uint32_t>(it.type));
        if (!t || !t->quantize)
            fail(path, "tensor '" + it.name + "': cannot write type " +
                           ggufTypeName(static_cast<std::uint32_t>(it.type)));
        if (it.shape.empty() || it.shape.size() > kMaxDims)
            fail(path, "tensor '" + it.name + "' has shape " + shapeToString(it.shape) + " (1 to 4 dims)");
        if (it.shape.back() % t->blockSize != 0)
            fail(path, "tensor '" + it.name + "': row length " + std::to_string(it.shape.back()) +
                           " is not a multiple of the " + t->name + " block size " +
                           std::to_string(t->blockSize));
        off = alignUp(off, alignment);
        offsets.push_back(off);
        sizes.push_back(ggufByteSize(it.type, numel(it.shape)));
        off += sizes.back();
    }

    AtomicFileWriter w(path);
    ByteSink s(w);
    s.bytes("GGUF", 4);
    s.put<std::uint32_t>(3);
    s.put<std::uint64_t>(items.size());
    s.put<std::uint64_t>(all.size());
    for (const auto& kv : all) {
        s.str(kv.key);
        s.put<std::uint32_t>(static_cast<std::uint32_t>(kv.value.type));
        writeValue(s, kv.value);
    }
    for (std::size_t k = 0; k < items.size(); ++k) {
        const auto& it = items[k];
        s.str(it.name);
        s.put<std::uint32_t>(static_cast<std::uint32_t>(it.shape.size()));
        for (auto d = it.shape.rbegin(); d != it.shape.rend(); ++d)
            s.put<std::uint64_t>(static_cast<std::uint64_t>(*d));
        s.put<std::uint32_t>(static_cast<std::uint32_t>(it.type));
        s.put<std::uint64_t>(offsets[k]);
    }
    s.padTo(alignment);
    const std::uint64_t dataStart = s.pos();
    for (std::size_t k = 0; k < items.size(); ++k) {
        const auto& it = items[k];
        const std::vector<float> v = it.produce();
        if (static_cast<std::int64_t>(v.size()) != numel(it.shape))
            fail(path, "tensor '" + it.name + "': produced " + std::to_string(v.size()) +
                           " values for shape " + shapeToString(it.shape));
        const std::vector<std::byte> enc = ggufEncode(it.type, v);
        s.padTo(alignment);
        if (s.pos() - dataStart != offsets[k]) fail(path, "internal error: tensor offset mismatch");
        s.bytes(enc.data(), enc.size());
    }
    w.commit();
}

} // namespace qs::core
