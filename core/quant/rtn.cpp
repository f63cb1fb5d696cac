// SPDX-License-Identifier: MIT
#include "quant/rtn.h"

#include "quant/fake_quant.h"

namespace qs::core {

const ParamSchema& RtnQuantizer::params() const {
    static const ParamSchema none;
    return none;
}

void RtnQuantizer::quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json&, float* out,
                            const JobContext& job) const {
    job.checkCancel();
    fakeQuantize(w.data, w.rows, w.cols, spec, out);
}

} // namespace qs::core
