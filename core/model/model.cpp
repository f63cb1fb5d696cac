// SPDX-License-Identifier: MIT
#include "model/model.h"

#include "model/gguf_model.h"
#include "model/hf_model.h"
#include "model/onnx_model.h"
#include "base/error.h"
#include "io/mapped_file.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <span>
#include <string_view>

namespace qs::core {
namespace fs = std::filesystem;

std::vector<float> Model::weightAsOutIn(const WeightInfo& info) const {
    const Tensor t = weight(info.name);
    if (!isFloatConvertible(t.dtype()))
        throw Error(path().string() + ": weight '" + info.name + "' of type " +
                    std::string(dtypeName(t.dtype())) + " cannot be read as float32");
    std::vector<float> v = t.toFloats();
    // Read once: drop the file's pages from this process (the page cache keeps them), so that a
    // quantizer reading every weight does not hold the whole mapped checkpoint resident.
    MappedFile::adviseNotNeeded(t.bytes(), t.byteSize());
    if (!info.transposed || t.shape().size() != 2) return v;
    // GPT-2 Conv1D stores [in, out]; quantizers and the forward pass expect [out, in].
    const auto in = static_cast<std::size_t>(t.shape()[0]);
    const auto out = static_cast<std::size_t>(t.shape()[1]);
    std::vector<float> r(v.size());
    for (std::size_t i = 0; i < in; ++i)
        for (std::size_t o = 0; o < out; ++o)
            r[o * in + i] = v[i * out + o];
    return r;
}

const WeightInfo* Model::find(const std::string& name) const {
    for (const auto& w : weights())
        if (w.name == name) return &w;
    return nullptr;
}

std::int64_t Model::parameterCount() const {
    std::int64_t n = 0;
    for (const auto& w : weights())
        n += numel(w.shape);
    return n;
}

std::int64_t Model::quantizableParameterCount() const {
    std::int64_t n = 0;
    for (const auto& w : weights())
        if (w.quantizable) n += numel(w.shape);
    return n;
}

namespace {

// "<prefix>N.<rest>" -> N and rest; false when the name does not have that form.
bool splitLayer(std::string_view name, std::string_view prefix, int& index, std::string_view& rest) {
    if (!name.starts_with(prefix)) return false;
    name.remove_prefix(prefix.size());
    const auto dot = name.find('.');
    if (dot == 0 || dot == std::string_view::npos) return false;
    const auto digits = name.substr(0, dot);
    int parsed = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
    if (ec != std::errc() || end != digits.data() + digits.size() || parsed < 0) return false;
    index = parsed;
    rest = name.substr(dot + 1);
    return true;
}

// `pattern` with `*` matching any run of characters (NameRule).
bool globMatch(std::string_view pattern, std::string_view name) {
    std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
    while (n < name.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (p < pattern.size() && pattern[p] == name[n]) {
            ++p;
            ++n;
        } else if (star != std::string_view::npos) {
            p = star + 1; // let the last star take one more character
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*')
        ++p;
    return p == pattern.size();
}

WeightRole firstMatch(std::span<const NameRule> rules, std::string_view name) {
    for (const auto& r : rules)
        if (globMatch(r.pattern, name)) return r.role;
    return WeightRole::Other;
}

// "<linear>.weight" for one of the block's Linears.
bool isBlockLinear(const WeightNames& names, std::string_view rest) {
    if (!rest.ends_with(".weight")) return false;
    rest.remove_suffix(7);
    for (const std::string_view l :
         {names.qkv, names.q, names.k, names.v, names.o, names.gate, names.up, names.down})
        if (!l.empty() && l == rest) return true;
    return false;
}

// The head is matched on the full name; the rest after removing the optional prefix: the embedding
// and learned positions, then the block names (Linears, then the block rules), then the other rules.
void classifyByNames(const ArchitectureTraits& a, WeightInfo& w) {
    const WeightNames& names = a.names;
    std::string_view n = w.name;
    if (!names.head.empty() && n == names.head) {
        w.role = WeightRole::Head;
        return;
    }
    if (!names.optionalPrefix.empty() && n.starts_with(names.optionalPrefix))
        n.remove_prefix(names.optionalPrefix.size());
    std::string_view rest;
    if (!names.embed.empty() && (n == names.embed || (!names.positions.empty() && n == names.positions))) {
        w.role = WeightRole::Embedding;
    } else if (!names.layerPrefix.empty() && splitLayer(n, names.layerPrefix, w.layerIndex, rest)) {
        if (isBlockLinear(names, rest)) {
            w.role = WeightRole::Linear;
            w.transposed = a.transposedLinears;
        } else {
            w.role = firstMatch(names.layerRules, rest);
        }
    } else {
        w.role = firstMatch(names.otherRules, n);
    }
}

std::string lowerExtension(const fs::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return e;
}

} // namespace

WeightInfo classifyWeight(Architecture arch, const std::string& name, DType dtype, const Shape& shape) {
    WeightInfo w;
    w.name = name;
    w.dtype = dtype;
    w.shape = shape;
    classifyByNames(architectureTraits(arch), w);
    // Weight quantizers work on matrices; anything else named like a Linear is left alone.
    w.quantizable = w.role == WeightRole::Linear && shape.size() == 2;
    return w;
}

std::unique_ptr<Model> openModel(const fs::path& path) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) throw Error(path.string() + ": no such file or directory");
    if (fs::is_directory(st)) return HfModel::open(path);
    const std::string ext = lowerExtension(path);
    if (ext == ".gguf") return GgufModel::open(path);
    if (ext == ".onnx") return OnnxModel::open(path);
    if (ext == ".safetensors")
        throw Error(path.string() +
                    ": a bare .safetensors file has no config.json; open the Hugging Face model "
                    "directory that contains it");
    throw Error(path.string() +
                ": unrecognised model file (expected a Hugging Face model directory, .gguf or .onnx)");
}

} // namespace qs::core
