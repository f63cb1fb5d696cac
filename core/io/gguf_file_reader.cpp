// SPDX-License-Identifier: MIT
// GGUF reader: maps a file, validates its whole header (GgufFile::open) and hands out metadata values
// and tensors (views for plain types, dequantized through the type table for block types).
#include "io/gguf.h"

#include "io/gguf_internal.h"
#include "io/mapped_file.h"
#include "base/error.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace qs::core {
namespace fs = std::filesystem;
using gguf_internal::alignUp;
using gguf_internal::fail;
using gguf_internal::kMaxAlignment;
using gguf_internal::kMaxDims;

namespace {

constexpr int kMaxArrayDepth = 8; // nested metadata arrays

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

} // namespace

// ---- value accessors ----------------------------------------------------------------------------

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

} // namespace qs::core
