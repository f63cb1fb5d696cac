// SPDX-License-Identifier: MIT
#pragma once
#include "model/model_config.h"
#include "model/weight_role.h"
#include "tensor/compact_matrix.h"
#include "tensor/tensor.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qs::core {

/// One weight of a model, without its data.
struct WeightInfo {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    WeightRole role = WeightRole::Other;
    int layerIndex = -1;      ///< decoder block index, -1 outside blocks
    bool quantizable = false; ///< a decoder Linear (q/k/v/o, gate/up/down; GPT-2 c_attn/c_proj/c_fc)
    bool transposed = false;  ///< stored [in, out] (GPT-2 Conv1D) instead of [out, in]

    /// Output features when seen as a matrix [out, in] (1 for a 1-D tensor).
    std::int64_t matrixRows() const {
        if (shape.size() <= 1) return 1;
        return transposed ? shape[1] : shape[0];
    }
    /// Input features (product of the remaining dims) when seen as [out, in].
    std::int64_t matrixCols() const {
        const std::int64_t r = matrixRows();
        return r ? numel(shape) / r : 0;
    }
};

/// A loaded model: configuration plus lazily mapped weights. Implementations: Hugging Face
/// directories (safetensors), later GGUF and ONNX.
class Model {
public:
    virtual ~Model() = default;
    /// The directory or file the model was opened from.
    virtual const std::filesystem::path& path() const = 0;
    virtual const ModelConfig& config() const = 0;
    /// All weights, in file order.
    virtual const std::vector<WeightInfo>& weights() const = 0;
    /// Zero-copy view of a weight's stored data (any dtype). Throws Error when absent.
    virtual Tensor weight(const std::string& name) const = 0;
    /// A 2-D weight [out, in] held as its stored codes, where the stored form is one the products read
    /// exactly without a float32 copy (GGUF K-quants: CompactMatrix::scaledWithMins), the same numbers
    /// as weight(name)'s; nullopt for other forms, and while compact weights are not allowed.
    virtual std::optional<CompactMatrix> storedCodes(const std::string&) const { return std::nullopt; }

    /// A weight as a float32 matrix [out, in] (transposed back for GPT-2 Conv1D).
    std::vector<float> weightAsOutIn(const WeightInfo& info) const;
    /// Info by name, nullptr when absent.
    const WeightInfo* find(const std::string& name) const;
    /// Sum of numel over all weights / over quantizable ones.
    std::int64_t parameterCount() const;
    std::int64_t quantizableParameterCount() const;
};

/// Opens a model of any supported kind: a Hugging Face directory (config.json + *.safetensors,
/// single or sharded through model.safetensors.index.json) or a llama GGUF file (.gguf, see GgufModel).
/// Throws Error naming the path.
std::unique_ptr<Model> openModel(const std::filesystem::path& path);

/// Classifies a tensor name of `arch` into role, layer index, quantizable, transposed, from the names
/// in the architecture's row (architecture.h). An architecture without decoder names (ONNX) gives
/// WeightRole::Other: OnnxModel classifies its weights from the graph.
WeightInfo classifyWeight(Architecture arch, const std::string& name, DType dtype, const Shape& shape);

} // namespace qs::core
