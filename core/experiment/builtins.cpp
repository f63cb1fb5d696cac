// SPDX-License-Identifier: MIT
#include "experiment/builtins.h"

#include "analysis/attention_spans.h"
#include "analysis/landscape.h"
#include "analysis/misalignment.h"
#include "analysis/quality_prediction.h"
#include "analysis/sensitivity_analysis.h"
#include "cost/bitparallel.h"
#include "cost/decode_roofline.h"
#include "cost/dpred.h"
#include "cost/laconic.h"
#include "cost/loom.h"
#include "cost/mac_cost.h"
#include "cost/mapping.h"
#include "cost/pragmatic.h"
#include "cost/stripes.h"
#include "cost/tactical.h"
#include "quant/awq.h"
#include "quant/dgq.h"
#include "quant/dynbits.h"
#include "quant/gptq.h"
#include "quant/qat.h"
#include "quant/gptvq.h"
#include "quant/rtn.h"
#include "transform/resq.h"
#include "transform/rotate.h"
#include "transform/smoothquant.h"

namespace qs::core {

void registerBuiltins(Registries& r) {
    r.quantizers.add(std::make_unique<RtnQuantizer>());
    r.quantizers.add(std::make_unique<GptqQuantizer>());
    r.quantizers.add(std::make_unique<GptvqQuantizer>());
    r.quantizers.add(std::make_unique<AwqQuantizer>());
    r.quantizers.add(std::make_unique<DgqQuantizer>());
    r.quantizers.add(std::make_unique<DynBitsQuantizer>());
    r.quantizers.add(std::make_unique<QatQuantizer>());
    r.transforms.add(std::make_unique<SmoothQuantTransform>());
    r.transforms.add(std::make_unique<RotateTransform>());
    r.transforms.add(std::make_unique<ResqTransform>());
    r.analyses.add(std::make_unique<SensitivityAnalysis>());
    r.analyses.add(std::make_unique<LandscapeAnalysis>());
    r.analyses.add(std::make_unique<SpansAnalysis>());
    r.analyses.add(std::make_unique<PredictAnalysis>());
    r.analyses.add(std::make_unique<MisalignmentAnalysis>());
    r.costModels.add(makeBitParallelCostModel());
    r.costModels.add(makeStripesCostModel());
    r.costModels.add(makeDpredCostModel());
    r.costModels.add(makeLoomCostModel());
    r.costModels.add(makePragmaticCostModel());
    r.costModels.add(makeLaconicCostModel());
    r.costModels.add(makeTacticalCostModel());
    r.costModels.add(makeMacCostModel());
    r.costModels.add(makeDecodeCostModel());
    r.costModels.add(makeMappingCostModel());
}

} // namespace qs::core
