// SPDX-License-Identifier: MIT
#include "cost/term_params.h"

#include "cost/grid_params.h"

#include <string>

namespace qs::core {

// clang-format off
ParamSpec termEncodingParam() {
    return {"term_encoding", ParamType::Choice, "auto", 0, 0, {"auto", "binary", "dnnsim_booth", "naf"},
            "how values become signed powers of two: auto (dnnsim mode: dnnsim_booth; paper mode: the paper's), "
            "binary (one term per 1 bit), dnnsim_booth (DNNsim's booth-like recoding), naf (canonical signed digits)",
            "Term encoding"};
}
// clang-format on

TermEncoding termEncodingFromParams(const nlohmann::json& params, TermEncoding paperEncoding) {
    const std::string name = params.value("term_encoding", std::string("auto"));
    if (name != "auto") return termEncodingFromName(name);
    return dnnsimMode(params) ? TermEncoding::DnnsimBooth : paperEncoding;
}

} // namespace qs::core
