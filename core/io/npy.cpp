// SPDX-License-Identifier: MIT
#include "io/npy.h"

#include "io/file_util.h"
#include "io/mapped_file.h"
#include "base/error.h"

#include <array>
#include <bit>
#include <cctype>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>

namespace qs::core {

// Element bytes are copied as they lie; only little-endian .npy data is accepted or produced.
static_assert(std::endian::native == std::endian::little, ".npy I/O assumes a little-endian host");

namespace {

constexpr std::array<unsigned char, 6> kMagic{0x93, 'N', 'U', 'M', 'P', 'Y'};

// NumPy kind+size <-> engine dtype, one row each (bf16/fp8 have no NumPy spelling).
struct NpyType {
    char kind;
    int size;
    DType dtype;
};
constexpr std::array<NpyType, 12> kTypes{{
    {'f', 2, DType::F16},
    {'f', 4, DType::F32},
    {'f', 8, DType::F64},
    {'i', 1, DType::I8},
    {'i', 2, DType::I16},
    {'i', 4, DType::I32},
    {'i', 8, DType::I64},
    {'u', 1, DType::U8},
    {'u', 2, DType::U16},
    {'u', 4, DType::U32},
    {'u', 8, DType::U64},
    {'b', 1, DType::Bool},
}};

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
    throw Error(path.string() + ": " + problem);
}

struct NpyHeader {
    std::string descr;
    bool fortranOrder = false;
    Shape shape;
};

// Parser for the Python dict literal NumPy writes, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (192, 512), } — only the subset that can appear there (strings, True/False, int tuples).
class HeaderParser {
public:
    HeaderParser(std::string_view text, const std::filesystem::path& path) : m_s(text), m_path(path) {}

    NpyHeader parse() {
        NpyHeader h;
        bool haveDescr = false, haveOrder = false, haveShape = false;
        expect('{');
        while (true) {
            skipWs();
            if (peek() == '}') break;
            const std::string key = parseString();
            expect(':');
            skipWs();
            if (key == "descr") {
                h.descr = parseString();
                haveDescr = true;
            } else if (key == "fortran_order") {
                h.fortranOrder = parseBool();
                haveOrder = true;
            } else if (key == "shape") {
                h.shape = parseTuple();
                haveShape = true;
            } else {
                bad("unexpected key '" + key + "'");
            }
            skipWs();
            if (peek() == ',') {
                ++m_i;
                continue;
            }
            if (peek() != '}') bad("expected ',' or '}'");
        }
        ++m_i;
        skipWs();
        if (m_i != m_s.size()) bad("trailing characters after the dictionary");
        if (!haveDescr) bad("missing key 'descr'");
        if (!haveOrder) bad("missing key 'fortran_order'");
        if (!haveShape) bad("missing key 'shape'");
        return h;
    }

private:
    [[noreturn]] void bad(const std::string& problem) const {
        std::string shown(m_s.substr(0, 200));
        fail(m_path,
             "malformed .npy header (" + problem + " at offset " + std::to_string(m_i) + "): " + shown);
    }
    char peek() const { return m_i < m_s.size() ? m_s[m_i] : '\0'; }
    void skipWs() {
        while (m_i < m_s.size() &&
               (m_s[m_i] == ' ' || m_s[m_i] == '\t' || m_s[m_i] == '\n' || m_s[m_i] == '\r'))
            ++m_i;
    }
    void expect(char c) {
        skipWs();
        if (peek() != c) bad(std::string("expected '") + c + "'");
        ++m_i;
    }
    std::string parseString() {
        const char q = peek();
        if (q != '\'' && q != '"') bad("expected a quoted string");
        const std::size_t start = ++m_i;
        while (m_i < m_s.size() && m_s[m_i] != q) {
            if (m_s[m_i] == '\\') bad("escape sequences are not supported");
            ++m_i;
        }
        if (m_i >= m_s.size()) bad("unterminated string");
        return std::string(m_s.substr(start, m_i++ - start));
    }
    bool parseBool() {
        if (m_s.substr(m_i, 4) == "True") {
            m_i += 4;
            return true;
        }
        if (m_s.substr(m_i, 5) == "False") {
            m_i += 5;
            return false;
        }
        bad("expected True or False");
    }
    std::int64_t parseInt() {
        skipWs();
        if (peek() == '-') bad("negative dimension");
        if (!std::isdigit(static_cast<unsigned char>(peek()))) bad("expected a non-negative integer");
        std::int64_t v = 0;
        while (std::isdigit(static_cast<unsigned char>(peek()))) {
            const int d = m_s[m_i++] - '0';
            if (v > (std::numeric_limits<std::int64_t>::max() - d) / 10) bad("dimension too large");
            v = v * 10 + d;
        }
        if (peek() == 'L') ++m_i; // Python 2 long suffix, written by old NumPy
        return v;
    }
    // "()" , "(5,)" , "(2, 3)" , "(2, 3,)"; "(5)" is an int in Python, not a tuple, so it is rejected.
    Shape parseTuple() {
        expect('(');
        Shape shape;
        skipWs();
        if (peek() == ')') {
            ++m_i;
            return shape;
        }
        while (true) {
            shape.push_back(parseInt());
            skipWs();
            if (peek() == ',') {
                ++m_i;
                skipWs();
                if (peek() == ')') {
                    ++m_i;
                    return shape;
                }
                continue;
            }
            if (peek() == ')') {
                if (shape.size() == 1) bad("a one-element shape needs a trailing comma, e.g. (5,)");
                ++m_i;
                return shape;
            }
            bad("expected ',' or ')' in shape");
        }
    }

    std::string_view m_s;
    const std::filesystem::path& m_path;
    std::size_t m_i = 0;
};

DType dtypeFromDescr(const std::filesystem::path& path, const std::string& descr) {
    if (descr.size() < 3) fail(path, "unsupported .npy dtype '" + descr + "'");
    const char order = descr[0];
    const char kind = descr[1];
    int size = 0;
    for (std::size_t i = 2; i < descr.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(descr[i])) || size > 1000)
            fail(path, "unsupported .npy dtype '" + descr + "'");
        size = size * 10 + (descr[i] - '0');
    }
    if (order != '<' && order != '>' && order != '|' && order != '=')
        fail(path, "unsupported .npy dtype '" + descr + "'");
    if (order == '>' && size > 1) fail(path, "big-endian .npy data ('" + descr + "') is not supported");
    for (const auto& t : kTypes)
        if (t.kind == kind && t.size == size) return t.dtype;
    fail(path, "unsupported .npy dtype '" + descr + "'");
}

std::optional<std::string> descrFromDType(DType d) {
    for (const auto& t : kTypes)
        if (t.dtype == d) return std::string(t.size == 1 ? "|" : "<") + t.kind + std::to_string(t.size);
    return std::nullopt;
}

std::uint64_t readLe(const std::byte* p, int n) {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
        v = v << 8 | static_cast<std::uint8_t>(p[i]);
    return v;
}

} // namespace

Tensor readNpy(const std::filesystem::path& path) {
    const auto file = MappedFile::open(path);
    const std::byte* p = file->data();
    const std::size_t size = file->size();
    if (size < 10 || std::memcmp(p, kMagic.data(), kMagic.size()) != 0)
        fail(path, "not a .npy file (missing \\x93NUMPY magic)");
    const int major = static_cast<std::uint8_t>(p[6]);
    const int minor = static_cast<std::uint8_t>(p[7]);
    std::size_t headerStart;
    std::uint64_t headerLen;
    if (major == 1) {
        headerStart = 10;
        headerLen = readLe(p + 8, 2);
    } else if (major == 2 || major == 3) { // 4-byte header length; 3.0 only allows UTF-8 in the header
        if (size < 12) fail(path, "truncated .npy header");
        headerStart = 12;
        headerLen = readLe(p + 8, 4);
    } else {
        fail(path, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
    }
    if (headerLen > size - headerStart)
        fail(path, "truncated .npy header: header length " + std::to_string(headerLen) +
                       " runs past the end of the file (" + std::to_string(size) + " bytes)");
    const std::string_view text(reinterpret_cast<const char*>(p + headerStart), headerLen);
    const NpyHeader h = HeaderParser(text, path).parse();

    const DType dtype = dtypeFromDescr(path, h.descr);
    // Fortran and C order are the same layout for 0-D and 1-D arrays.
    if (h.fortranOrder && h.shape.size() > 1) fail(path, "Fortran-order .npy arrays are not supported");
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    std::int64_t n = 1;
    for (const auto d : h.shape) {
        if (d != 0 && n > kMax / d) fail(path, "absurd .npy shape " + shapeToString(h.shape));
        n *= d;
    }
    const auto itemSize = static_cast<std::int64_t>(dtypeSize(dtype));
    if (n > kMax / itemSize) fail(path, "absurd .npy shape " + shapeToString(h.shape));
    const std::uint64_t needed = static_cast<std::uint64_t>(n * itemSize);
    const std::uint64_t have = size - headerStart - headerLen;
    if (have != needed)
        fail(path, "data size mismatch: shape " + shapeToString(h.shape) + " of '" + h.descr + "' needs " +
                       std::to_string(needed) + " bytes, the file has " + std::to_string(have));

    Tensor t = Tensor::zeros(dtype, h.shape);
    if (needed) std::memcpy(t.mutableBytes(), p + headerStart + headerLen, needed);
    return t;
}

void writeNpy(const std::filesystem::path& path, const Tensor& tensor) {
    const auto descr = descrFromDType(tensor.dtype());
    if (!descr)
        fail(path,
             "NumPy has no " + std::string(dtypeName(tensor.dtype())) + " type; convert to float32 first");
    for (const auto d : tensor.shape())
        if (d < 0) fail(path, "negative dimension in shape " + shapeToString(tensor.shape()));
    std::string dict = "{'descr': '" + *descr + "', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < tensor.shape().size(); ++i)
        dict += (i ? ", " : "") + std::to_string(tensor.shape()[i]);
    dict += tensor.shape().size() == 1 ? ",), }" : "), }";

    // Version 1.0 (2-byte length) unless the header does not fit; data starts 64-byte aligned.
    const bool v2 = dict.size() + 1 + 10 > 65535;
    const std::size_t prefix = v2 ? 12 : 10;
    dict.append((64 - (prefix + dict.size() + 1) % 64) % 64, ' ');
    dict += '\n';

    std::string head(reinterpret_cast<const char*>(kMagic.data()), kMagic.size());
    head += static_cast<char>(v2 ? 2 : 1);
    head += '\0';
    for (std::size_t i = 0; i < prefix - 8; ++i)
        head += static_cast<char>((dict.size() >> (8 * i)) & 0xff);

    AtomicFileWriter w(path);
    w.write(head);
    w.write(dict);
    const std::size_t bytes = tensor.byteSize();
    if (bytes) {
        if (!tensor.bytes()) fail(path, "tensor has no data");
        w.write(tensor.bytes(), bytes);
    }
    w.commit();
}

} // namespace qs::core
