// SPDX-License-Identifier: MIT
#include "transform/model_transform.h"

#include "formats/format_traits.h"
#include "base/error.h"

namespace qs::core {

ForwardHooks TransformedModel::hooks(const ForwardHooks& user) const {
    ForwardHooks h = user;
    if (siteTransform) h.siteTransform = siteTransform;
    if (siteTransformTranspose) h.siteTransformTranspose = siteTransformTranspose;
    if (user.activation && activationQuantizer) h.siteQuantize = activationQuantizer(*user.activation);
    if (user.kvCache && kvQuantizer) h.kvQuantize = kvQuantizer(*user.kvCache);
    return h;
}

std::vector<float> TransformedModel::weightOutIn(const Model& model, const std::string& name) const {
    if (const auto it = weights.find(name); it != weights.end()) return it->second;
    const WeightInfo* info = model.find(name);
    if (!info) throw Error(model.path().string() + ": weight '" + name + "' is missing");
    return model.weightAsOutIn(*info);
}

QuantSpec highSpec(const QuantSpec& spec, int bits) {
    if (bits < 2 || bits > 8) throw Error("high-precision bits must be 2..8, got " + std::to_string(bits));
    QuantSpec s = spec;
    s.format = static_cast<FormatId>(static_cast<int>(FormatId::Int2) + bits - 2);
    if (s.granularity == Granularity::Block) s.granularity = Granularity::Group;
    if (!s.symmetric && !formatTraits(s.format).allowsAsymmetric) s.symmetric = true;
    return s;
}

} // namespace qs::core
