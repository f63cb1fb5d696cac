// SPDX-License-Identifier: MIT
// GGUF writer: builds metadata values and writes a v3 file (header, tensor infos, aligned data encoded
// through the type table) atomically.
#include "io/gguf.h"

#include "io/file_util.h"
#include "io/gguf_internal.h"
#include "base/error.h"

#include <algorithm>
#include <array>
#include <set>

namespace qs::core {
namespace fs = std::filesystem;
using gguf_internal::alignUp;
using gguf_internal::fail;
using gguf_internal::kMaxAlignment;
using gguf_internal::kMaxDims;

// ---- value constructors -------------------------------------------------------------------------

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
        if (!t || (!t->quantize && !it.produceEncoded))
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
        std::vector<std::byte> enc;
        if (it.produceEncoded) {
            enc = it.produceEncoded();
            if (enc.size() != sizes[k])
                fail(path, "tensor '" + it.name + "': produced " + std::to_string(enc.size()) + " bytes, its " +
                               ggufTypeName(static_cast<std::uint32_t>(it.type)) + " shape " + shapeToString(it.shape) +
                               " takes " + std::to_string(sizes[k]));
        } else {
            const std::vector<float> v = it.produce();
            if (static_cast<std::int64_t>(v.size()) != numel(it.shape))
                fail(path, "tensor '" + it.name + "': produced " + std::to_string(v.size()) +
                               " values for shape " + shapeToString(it.shape));
            enc = ggufEncode(it.type, v);
        }
        s.padTo(alignment);
        if (s.pos() - dataStart != offsets[k]) fail(path, "internal error: tensor offset mismatch");
        s.bytes(enc.data(), enc.size());
    }
    w.commit();
}

} // namespace qs::core
