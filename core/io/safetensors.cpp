// SPDX-License-Identifier: MIT
#include "io/safetensors.h"

#include "io/file_util.h"
#include "io/mapped_file.h"
#include "base/error.h"
#include "tensor/half.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

namespace qs::core {

// Tensor bytes are written and viewed as they lie in memory; safetensors is little-endian.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

// A real header is a few hundred bytes per tensor; anything above this is a corrupt or hostile file.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr char kMetadataKey[] = "__metadata__";

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
    throw Error(path.string() + ": " + problem);
}

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are rejected), or npos when all is valid.
std::size_t findInvalidUtf8(const unsigned char* s, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
        const unsigned c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        std::uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (n - i < len) return i;
        for (std::size_t k = 1; k < len; ++k) {
            const unsigned cc = s[i + k];
            if ((cc & 0xC0) != 0x80) return i;
            cp = cp << 6 | (cc & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return std::string::npos;
}

// numel * dtypeSize into `bytes`, reporting negative dimensions and overflow instead of wrapping.
// Returns the problem, or an empty string when the shape is fine.
std::string checkShape(const Shape& shape, DType dtype, std::uint64_t& bytes) {
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    std::int64_t n = 1;
    for (const std::int64_t d : shape) {
        if (d < 0) return "negative dimension " + std::to_string(d) + " in shape " + shapeToString(shape);
        if (d != 0 && n > kMax / d)
            return "shape " + shapeToString(shape) + " is absurd: element count overflows";
        n *= d;
    }
    const auto size = static_cast<std::int64_t>(dtypeSize(dtype));
    if (n > kMax / size) return "shape " + shapeToString(shape) + " is absurd: byte size overflows";
    bytes = static_cast<std::uint64_t>(n * size);
    return {};
}

// Parses the header JSON, rejecting duplicate keys in any object (nlohmann would keep the last one,
// silently hiding a second tensor of the same name).
nlohmann::json parseHeader(const std::filesystem::path& path, const char* begin, const char* end) {
    std::vector<std::set<std::string>> keys; // one set per open object
    std::string duplicate;
    bool duplicateIsTensor = false;
    auto callback = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (ev == E::object_start) {
            keys.emplace_back();
        } else if (ev == E::object_end) {
            if (!keys.empty()) keys.pop_back();
        } else if (ev == E::key && !keys.empty() && duplicate.empty()) {
            const auto& k = parsed.get_ref<const std::string&>();
            if (!keys.back().insert(k).second) {
                duplicate = k;
                duplicateIsTensor = keys.size() == 1;
            }
        }
        return true;
    };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(begin, end, callback);
    } catch (const nlohmann::json::exception& e) {
        fail(path, std::string("header is not valid JSON: ") + e.what());
    }
    if (!duplicate.empty())
        fail(path, duplicateIsTensor ? "duplicate tensor name '" + duplicate + "' in header"
                                     : "duplicate key '" + duplicate + "' in header");
    return j;
}

// Reads a JSON integer as int64 into `out`; returns the problem (float, string, beyond int64) or "".
std::string jsonInt(const nlohmann::json& v, const std::string& what, std::int64_t& out) {
    if (!v.is_number_integer()) return what + " is not an integer (" + v.dump() + ")";
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        return what + " " + v.dump() + " is absurd (exceeds 2^63-1)";
    out = v.get<std::int64_t>();
    return {};
}

} // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
    SafetensorsFile f;
    f.m_file = MappedFile::open(path);
    const std::byte* base = f.m_file->data();
    const std::uint64_t fileSize = f.m_file->size();

    if (fileSize < 8)
        fail(path, "file is too short (" + std::to_string(fileSize) +
                       " bytes) to hold the 8-byte safetensors header length");
    std::uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i)
        headerLen = headerLen << 8 | static_cast<std::uint8_t>(base[i]);
    if (headerLen > kMaxHeaderBytes)
        fail(path, "header length " + std::to_string(headerLen) +
                       " bytes is absurd (limit 100 MB); not a safetensors file?");
    if (headerLen > fileSize - 8)
        fail(path, "header length " + std::to_string(headerLen) + " bytes runs past the end of the file (" +
                       std::to_string(fileSize) + " bytes)");

    const auto* header = reinterpret_cast<const char*>(base + 8);
    const std::size_t bad = findInvalidUtf8(reinterpret_cast<const unsigned char*>(header), headerLen);
    if (bad != std::string::npos)
        fail(path, "header is not valid UTF-8 (at header byte " + std::to_string(bad) + ")");
    const nlohmann::json j = parseHeader(path, header, header + headerLen);
    if (!j.is_object()) fail(path, std::string("header is not a JSON object but a JSON ") + j.type_name());

    f.m_dataStart = 8 + headerLen;
    const std::uint64_t dataSize = fileSize - f.m_dataStart;

    for (const auto& item : j.items()) {
        // Named references, not structured bindings: lambdas cannot capture those before clang 16.
        const std::string& name = item.key();
        const nlohmann::json& v = item.value();
        if (name == kMetadataKey) {
            if (!v.is_object()) fail(path, "__metadata__ is not a JSON object");
            for (const auto& [k, mv] : v.items()) {
                if (!mv.is_string()) fail(path, "__metadata__ value of '" + k + "' is not a string");
                f.m_metadata[k] = mv.get<std::string>();
            }
            continue;
        }
        auto bad = [&](const std::string& problem) { fail(path, "tensor '" + name + "': " + problem); };
        if (!v.is_object()) bad("entry is not a JSON object");
        SafetensorsEntry e;
        e.name = name;

        const auto dt = v.find("dtype");
        if (dt == v.end()) bad("missing 'dtype'");
        if (!dt->is_string()) bad("'dtype' is not a string");
        const auto parsed = parseDType(dt->get_ref<const std::string&>());
        if (!parsed) bad("unknown dtype '" + dt->get<std::string>() + "'");
        e.dtype = *parsed;

        const auto sh = v.find("shape");
        if (sh == v.end()) bad("missing 'shape'");
        if (!sh->is_array()) bad("'shape' is not an array");
        for (const auto& d : *sh) {
            std::int64_t dim = 0;
            if (auto p = jsonInt(d, "shape dimension", dim); !p.empty()) bad(p);
            e.shape.push_back(dim);
        }
        std::uint64_t needed = 0;
        if (auto p = checkShape(e.shape, e.dtype, needed); !p.empty()) bad(p);

        const auto off = v.find("data_offsets");
        if (off == v.end()) bad("missing 'data_offsets'");
        if (!off->is_array() || off->size() != 2) bad("'data_offsets' is not an array of two integers");
        std::int64_t b = 0, en = 0;
        if (auto p = jsonInt((*off)[0], "data_offsets begin", b); !p.empty()) bad(p);
        if (auto p = jsonInt((*off)[1], "data_offsets end", en); !p.empty()) bad(p);
        if (b < 0 || en < 0)
            bad("negative data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "]");
        e.begin = static_cast<std::uint64_t>(b);
        e.end = static_cast<std::uint64_t>(en);
        if (e.begin > e.end)
            bad("data_offsets begin " + std::to_string(e.begin) + " > end " + std::to_string(e.end));
        if (e.end > dataSize)
            bad("data ends at byte " + std::to_string(e.end) + ", past the end of the data section (" +
                std::to_string(dataSize) + " bytes)");
        if (e.end - e.begin != needed)
            bad("byte size mismatch: data_offsets span " + std::to_string(e.end - e.begin) + " bytes but " +
                std::string(dtypeName(e.dtype)) + " " + shapeToString(e.shape) + " needs " +
                std::to_string(needed));
        f.m_entries.push_back(std::move(e));
    }

    // File order = data order; sorting also makes the overlap check a single pass.
    std::sort(
        f.m_entries.begin(), f.m_entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name;
        });
    const SafetensorsEntry* reach = nullptr; // the non-empty tensor reaching furthest so far
    for (const auto& e : f.m_entries) {
        if (e.begin == e.end) continue; // an empty tensor occupies no bytes
        if (reach && e.begin < reach->end)
            fail(path, "tensors '" + reach->name + "' [" + std::to_string(reach->begin) + ", " +
                           std::to_string(reach->end) + ") and '" + e.name + "' [" + std::to_string(e.begin) +
                           ", " + std::to_string(e.end) + ") overlap");
        if (!reach || e.end > reach->end) reach = &e;
    }
    for (std::size_t i = 0; i < f.m_entries.size(); ++i)
        if (!f.m_index.emplace(f.m_entries[i].name, i).second)
            fail(path, "duplicate tensor name '" + f.m_entries[i].name + "'");
    return f;
}

const std::filesystem::path& SafetensorsFile::path() const {
    static const std::filesystem::path kNone;
    return m_file ? m_file->path() : kNone;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
    const auto it = m_index.find(name);
    return it == m_index.end() ? nullptr : &m_entries[it->second];
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
    const SafetensorsEntry* e = find(name);
    if (!e) throw Error(path().string() + ": no tensor named '" + name + "'");
    const std::byte* p = m_file->data() + m_dataStart + e->begin;
    // Offsets need not be aligned to the element size (header length is not always a multiple of 8);
    // typed access to a misaligned view is UB, so such tensors are copied into aligned memory.
    if (reinterpret_cast<std::uintptr_t>(p) % dtypeSize(e->dtype) != 0) {
        Tensor t = Tensor::zeros(e->dtype, e->shape);
        if (e->end > e->begin) std::memcpy(t.mutableBytes(), p, e->end - e->begin);
        return t;
    }
    return Tensor::view(e->dtype, e->shape, p, m_file);
}

void writeSafetensorsStreaming(const std::filesystem::path& path,
                               const std::vector<SafetensorsWriteItem>& items,
                               const std::map<std::string, std::string>& metadata) {
    std::vector<const SafetensorsWriteItem*> order;
    order.reserve(items.size());
    for (const auto& it : items)
        order.push_back(&it);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });

    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header[kMetadataKey] = metadata;
    std::vector<std::uint64_t> sizes;
    std::uint64_t offset = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
        const auto& it = *order[i];
        auto bad = [&](const std::string& problem) { fail(path, "tensor '" + it.name + "': " + problem); };
        std::uint64_t bytes = 0;
        if (auto p = checkShape(it.shape, it.dtype, bytes); !p.empty()) bad(p);
        if (i > 0 && order[i - 1]->name == it.name) bad("duplicate tensor name");
        if (it.name == kMetadataKey) bad("reserved name");
        if (!it.produce) bad("no data producer");
        header[it.name] = {
            {"dtype", dtypeName(it.dtype)}, {"shape", it.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
        sizes.push_back(bytes);
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) { // names or metadata that are not valid UTF-8
        fail(path, std::string("cannot encode header: ") + e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' '); // the data section starts 8-byte aligned

    AtomicFileWriter w(path);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<unsigned char>(std::uint64_t(text.size()) >> (8 * i));
    w.write(len, 8);
    w.write(text);
    for (std::size_t i = 0; i < order.size(); ++i) {
        const auto& it = *order[i];
        const Tensor t = it.produce();
        if (t.dtype() != it.dtype || t.shape() != it.shape)
            fail(path, "tensor '" + it.name + "': produced " + std::string(dtypeName(t.dtype())) + " " +
                           shapeToString(t.shape()) + ", declared " + std::string(dtypeName(it.dtype)) + " " +
                           shapeToString(it.shape));
        if (sizes[i] == 0) continue;
        if (!t.bytes()) fail(path, "tensor '" + it.name + "' has no data");
        w.write(t.bytes(), sizes[i]);
    }
    w.commit();
}

void writeSafetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    std::vector<SafetensorsWriteItem> items;
    items.reserve(tensors.size());
    for (const auto& nt : tensors) {
        const Tensor& t = nt.second;
        items.push_back({nt.first, t.dtype(), t.shape(), [&t] { return t; }});
    }
    writeSafetensorsStreaming(path, items, metadata);
}

Tensor convertFloats(const float* values, const Shape& shape, DType dtype) {
    auto bad = [](const std::string& problem) { throw Error("convertFloats: " + problem); };
    if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
        bad("unsupported target dtype " + std::string(dtypeName(dtype)) + " (F32, F16 or BF16 only)");
    std::uint64_t bytes = 0;
    if (auto p = checkShape(shape, dtype, bytes); !p.empty()) bad(p);
    Tensor t = Tensor::zeros(dtype, shape);
    const std::int64_t n = t.numel();
    if (n == 0) return t;
    if (!values) bad("null input for " + std::to_string(n) + " values");
    std::byte* out = t.mutableBytes();
    if (dtype == DType::F32) {
        std::memcpy(out, values, static_cast<std::size_t>(n) * 4);
        return t;
    }
    const auto conv = dtype == DType::F16 ? f32ToF16 : f32ToBf16;
    for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t h = conv(values[i]);
        std::memcpy(out + 2 * i, &h, 2);
    }
    return t;
}

} // namespace qs::core
