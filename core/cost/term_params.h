// SPDX-License-Identifier: MIT
// The term-encoding parameter the term-serial designs share (Pragmatic, Laconic, Bit-Tactical's TCLe;
// ../shared/specs/cost-models.md §2, §6, §7, §8).
#pragma once
#include "base/param_schema.h"
#include "cost/value_bits.h"

#include <nlohmann/json.hpp>

namespace qs::core {

/// "term_encoding": auto | binary | dnnsim_booth | naf.
ParamSpec termEncodingParam();
/// The encoding a validated parameter object names. "auto": DNNsim's booth-like recoding in dnnsim mode
/// (DNNsim 2019 builds with BOOTH_ENCODING on), `paperEncoding` in paper mode.
TermEncoding termEncodingFromParams(const nlohmann::json& params, TermEncoding paperEncoding);

} // namespace qs::core
