// SPDX-License-Identifier: MIT
#include "data/token_data.h"

#include "io/file_util.h"
#include "io/npy.h"
#include "base/error.h"
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdint>

namespace qs::core {

std::vector<std::int32_t> readTokenData(const std::filesystem::path& file, const std::filesystem::path& model,
                                        std::string& source) {
    if (file.extension() == ".npy") {
        const Tensor t = readNpy(file);
        std::vector<std::int32_t> ids(static_cast<std::size_t>(t.numel()));
        if (t.dtype() == DType::I32) {
            std::copy(t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel(), ids.begin());
        } else if (t.dtype() == DType::I64) {
            const auto* p = t.data<std::int64_t>();
            for (std::size_t i = 0; i < ids.size(); ++i) {
                if (p[i] < 0 || p[i] > INT32_MAX)
                    throw Error(file.string() + ": token id " + std::to_string(p[i]) + " at index " +
                        std::to_string(i) + " is out of range");
                ids[i] = static_cast<std::int32_t>(p[i]);
            }
        } else {
            throw Error(file.string() + ": token ids must be int32 or int64, not " +
                        std::string(dtypeName(t.dtype())));
        }
        source = "token ids (.npy)";
        return ids;
    }
    const std::string text = readWholeFile(file);
    const auto tokenizer = loadTokenizer(model);
    source = "text, " + tokenizer->description();
    return tokenizer->encode(text);
}

} // namespace qs::core
