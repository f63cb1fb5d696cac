// SPDX-License-Identifier: MIT
#pragma once
#include "base/job.h"
#include "model/model.h"
#include "quant/held_weights.h"
#include "tensor/dtype.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace qs::core {

/// Writes `src` as a Hugging Face model directory `outDir`: model.safetensors with every weight of `src`
/// in `outDtype` (F32, F16 or BF16; round-to-nearest-even), where weights named in `replaced` take
/// that float32 data (in the tensor's STORED layout, i.e. [in, out] for GPT-2 Conv1D) instead of the
/// stored values; config.json with "torch_dtype" set to match; and the tokenizer/generation files of
/// the source directory that exist. Each file is written atomically; config.json is written last.
/// Throws Error for another dtype, outDir equal to the source directory, an unknown replaced name or
/// a replaced size that does not match. `job` reports one step per tensor and can cancel.
void writeHfModel(const Model& src, const std::map<std::string, std::vector<float>>& replaced,
                  const std::filesystem::path& outDir, DType outDtype, const JobContext& job = {});
/// The same with the replaced weights held compactly (HeldWeights), converted one at a time as written.
void writeHfModel(const Model& src, const HeldWeights& replaced, const std::filesystem::path& outDir, DType outDtype,
                  const JobContext& job = {});

/// The files besides weights and config.json that writeHfModel copies when present.
const std::vector<std::string>& hfAuxiliaryFiles();

} // namespace qs::core
