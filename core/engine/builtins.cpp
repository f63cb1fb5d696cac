// SPDX-License-Identifier: MIT
#include "engine/builtins.h"

#include "quant/rtn.h"

namespace qs::core {

void registerBuiltins(Registries& r) { r.quantizers.add(std::make_unique<RtnQuantizer>()); }

} // namespace qs::core
