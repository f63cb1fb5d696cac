// SPDX-License-Identifier: MIT
#pragma once
#include "tensor/tensor.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace qs::core {

class MappedFile;

/// ggml tensor type ids as stored in GGUF files (ggml.h numbering; 4 and 5 were removed upstream).
enum class GgufType : std::uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
};

/// Converts `n` elements (a multiple of blockSize) of packed blocks to float32.
using GgufDequantizeFn = void (*)(const std::byte* src, float* dst, std::int64_t n);
/// Packs `n` float32 values (a multiple of blockSize) into blocks (ggml's reference quantizer).
using GgufQuantizeFn = void (*)(const float* src, std::byte* dst, std::int64_t n);
/// Splits n elements (a whole number of blocks) into a code each (0..127) and, per run of the type's
/// codeRun elements, a scale and a min, such that element = float(code) * scale - min (two roundings)
/// is the type's dequantized value: what the products read without a float32 copy.
using GgufSplitFn = void (*)(const std::byte* src, std::int64_t n, std::uint8_t* codes, float* scales, float* mins);

/// One row of the GGUF type table (the ggml traits row): everything generic code needs about a type.
struct GgufTypeTraits {
    GgufType type;               ///< the id
    const char* name;            ///< ggml's spelling ("Q4_0")
    int blockSize;               ///< elements per block (1 for plain types)
    int blockBytes;              ///< bytes per block
    GgufDequantizeFn dequantize; ///< nullptr when this engine cannot read the type's values
    GgufQuantizeFn quantize;     ///< nullptr when this engine cannot write the type
    float roundTripTolerance;    ///< test tolerance of quantize+dequantize relative to block absmax
    GgufSplitFn split = nullptr; ///< codes, scales and mins (the K-quants Q2_K, Q4_K, Q5_K), nullptr for other forms
    int codeRun = 0;             ///< elements per scale and min of split
};

/// Traits of a type id; nullptr for an id this engine does not know.
const GgufTypeTraits* ggufTypeTraits(std::uint32_t id);
/// Traits of a known type (never nullptr).
const GgufTypeTraits& ggufTypeTraits(GgufType type);
/// "Q4_0"; "type#<id>" for an unknown id.
std::string ggufTypeName(std::uint32_t id);
/// Bytes that `numel` elements of `type` take; throws Error when numel is not a multiple of the block.
std::uint64_t ggufByteSize(GgufType type, std::int64_t numel);

/// Metadata value types of GGUF.
enum class GgufValueType : std::uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};

/// One metadata value. Scalars live in `u` (unsigned, bool), `i` (signed) or `f` (floats).
struct GgufValue {
    GgufValueType type = GgufValueType::U32;
    std::uint64_t u = 0;
    std::int64_t i = 0;
    double f = 0.0;
    std::string str;
    GgufValueType elemType = GgufValueType::U8; ///< element type of an Array
    std::vector<GgufValue> array;

    /// An integer scalar as int64; nullopt for other types or an unsigned value above INT64_MAX.
    std::optional<std::int64_t> toInt() const;
    /// A numeric (integer or float) scalar as double; nullopt otherwise.
    std::optional<double> toDouble() const;
    /// The string of a String value; nullptr otherwise.
    const std::string* toString() const;

    /// Constructors of common scalar values (for writers).
    static GgufValue ofU32(std::uint32_t v);
    static GgufValue ofU64(std::uint64_t v);
    static GgufValue ofI32(std::int32_t v);
    static GgufValue ofF32(float v);
    static GgufValue ofBool(bool v);
    static GgufValue ofString(std::string v);
    /// An array of strings.
    static GgufValue ofStrings(const std::vector<std::string>& v);
};

/// One metadata key/value pair.
struct GgufKv {
    std::string key;
    GgufValue value;
};

/// Where one tensor lives in a GGUF file.
struct GgufTensorInfo {
    std::string name;
    GgufType type = GgufType::F32;
    std::vector<std::uint64_t> ne; ///< ggml dims, ne[0] fastest
    Shape shape;                   ///< row-major shape (ne reversed)
    std::uint64_t offset = 0;      ///< byte offset into the data section
    std::uint64_t byteSize = 0;
};

/// A memory-mapped GGUF file (versions 2 and 3, little-endian) with a fully validated header:
/// magic, version, counts against the file size, string lengths, metadata types (arrays included),
/// alignment, dims (overflow, block multiples), known type ids, tensor offsets aligned and inside
/// the data section, no overlaps. Every violation throws Error naming the file and the problem.
class GgufFile {
public:
    /// Maps and validates `path`.
    static GgufFile open(const std::filesystem::path& path);

    /// The file path.
    const std::filesystem::path& path() const;
    /// Format version (2 or 3).
    std::uint32_t version() const { return m_version; }
    /// Alignment of the data section and tensor offsets (general.alignment, default 32).
    std::uint32_t alignment() const { return m_alignment; }
    /// Absolute byte offset of the data section.
    std::uint64_t dataStart() const { return m_dataStart; }
    /// Metadata in file order.
    const std::vector<GgufKv>& metadata() const { return m_kvs; }
    /// Metadata value by key, nullptr when absent.
    const GgufValue* findValue(const std::string& key) const;
    /// Tensor infos in file order.
    const std::vector<GgufTensorInfo>& tensors() const { return m_tensors; }
    /// Tensor info by name, nullptr when absent.
    const GgufTensorInfo* find(const std::string& name) const;
    /// The stored bytes of a tensor (inside the mapping). Throws Error when absent.
    std::span<const std::byte> rawData(const std::string& name) const;
    /// A tensor as the engine sees it: a zero-copy view for F32/F16/BF16, an owning float32 tensor
    /// (dequantized) for block types. Throws Error when absent or the type cannot be read.
    Tensor tensor(const std::string& name) const;
    /// A tensor's values dequantized to float32 (row-major). Throws Error like tensor().
    std::vector<float> dequantize(const std::string& name) const;
    /// The mapping that views returned by tensor() keep alive.
    std::shared_ptr<const MappedFile> mapping() const { return m_file; }

private:
    std::shared_ptr<const MappedFile> m_file;
    std::uint32_t m_version = 0;
    std::uint32_t m_alignment = 32;
    std::uint64_t m_dataStart = 0;
    std::vector<GgufKv> m_kvs;
    std::map<std::string, std::size_t> m_kvIndex;
    std::vector<GgufTensorInfo> m_tensors;
    std::map<std::string, std::size_t> m_tensorIndex;
};

/// One tensor to write to a GGUF file; its data is produced on demand, one tensor at a time.
struct GgufWriteItem {
    std::string name;
    GgufType type = GgufType::F32;
    Shape shape; ///< row-major; written as ne = reversed shape
    /// Called once, in order; returns row-major float32 values (numel(shape)), encoded to `type`.
    std::function<std::vector<float>()> produce;
    /// Instead of produce, for any type with a known block size: the tensor's stored bytes
    /// (ggufByteSize(type, numel(shape))), written as they are (a tensor kept as its source stored it).
    std::function<std::vector<std::byte>()> produceEncoded;
};

/// Writes a GGUF v3 file atomically (temp file + rename): metadata, then tensor infos, then the data
/// aligned to `alignment` (general.alignment is added when it is not 32 and absent from `kvs`).
/// Throws Error naming `path` for a type this engine cannot encode (and no produceEncoded), a row length
/// that is not a multiple of the block size, duplicate names, or a produced size that does not match.
void writeGguf(const std::filesystem::path& path, const std::vector<GgufKv>& kvs,
               const std::vector<GgufWriteItem>& items, std::uint32_t alignment = 32);

/// Encodes `values` (row-major, last dim a multiple of the block size) as `type`.
std::vector<std::byte> ggufEncode(GgufType type, std::span<const float> values);

} // namespace qs::core
