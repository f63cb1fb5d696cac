// SPDX-License-Identifier: MIT
#include "eval/classifier_eval.h"

#include "formats/format_traits.h"
#include "quant/fake_quant.h"
#include "base/error.h"

#include <algorithm>
#include <cmath>

namespace qs::core {

namespace {

// Images [b, ...] starting at image `first` of x, as the graph's input value.
OnnxValue batchOf(const std::vector<float>& x, const Shape& shape, std::int64_t first, std::int64_t count) {
    Shape s = shape;
    s[0] = count;
    const std::int64_t per = numel(shape) / shape[0];
    return OnnxValue::floats(s, std::vector<float>(x.begin() + first * per, x.begin() + (first + count) * per));
}

void checkImages(const Tensor& x, const OnnxModel& model) {
    if (x.shape().empty() || x.shape()[0] < 1)
        throw Error(model.path().string() + ": input data " + shapeToString(x.shape()) + " has no images");
    if (model.graph().inputs.size() != 1)
        throw Error(model.path().string() + ": a classifier takes one input, this graph takes " +
                    std::to_string(model.graph().inputs.size()));
}

ElementOptions optionsOf(const QuantSpec& spec) { return {spec.symmetric, spec.fullRange}; }

// The fake-quantized activation input of linear node k (nullopt: leave it as it is).
std::optional<OnnxValue> quantizedInput(const ActivationQuant& act, std::size_t k, const OnnxNode& node,
                                        const OnnxValue& v) {
    if (v.isInt) return std::nullopt;
    OnnxValue q = v;
    const auto n = static_cast<std::int64_t>(v.f.size());
    if (n == 0) return q;
    if (act.isStatic()) {
        const FormatTraits& f = formatTraits(act.spec.format);
        f.apply(f, v.f.data(), q.f.data(), static_cast<std::size_t>(n), act.staticParams[k], optionsOf(act.spec));
        return q;
    }
    // Dynamic: rows share nothing; per tensor = one row over the whole batch.
    std::int64_t rows = 1;
    if (act.spec.granularity != Granularity::Tensor && !v.shape.empty())
        rows = node.opType == "Conv" ? v.shape[0] : n / std::max<std::int64_t>(v.shape.back(), 1);
    fakeQuantize(v.f.data(), rows, n / rows, act.spec, q.f.data());
    return q;
}

} // namespace

std::vector<RangeStats> calibrateActivationRanges(const OnnxModel& model, const Tensor& x, std::int64_t batch,
                                                  const JobContext& job) {
    checkImages(x, model);
    OnnxSession session(model.graph());
    std::vector<RangeStats> ranges(session.linearNodes().size());
    std::vector<bool> seen(ranges.size(), false);
    session.setLinearInputHook([&](std::size_t k, const OnnxNode&, const OnnxValue& v) -> std::optional<OnnxValue> {
        const RangeStats r = rangeOf(v.f.data(), v.f.size());
        if (!seen[k]) ranges[k] = r, seen[k] = true;
        else {
            ranges[k].min = std::min(ranges[k].min, r.min);
            ranges[k].max = std::max(ranges[k].max, r.max);
            ranges[k].amax = std::max(ranges[k].amax, r.amax);
        }
        return std::nullopt;
    });
    const std::vector<float> data = x.toFloats();
    const std::int64_t n = x.shape()[0];
    batch = std::max<std::int64_t>(batch, 1);
    for (std::int64_t first = 0; first < n; first += batch) {
        job.step(first, n, "calibrating activations");
        session.run({batchOf(data, x.shape(), first, std::min(batch, n - first))});
    }
    job.step(n, n, "calibration done");
    return ranges;
}

ActivationQuant staticActivationQuant(const QuantSpec& spec, const std::vector<RangeStats>& ranges) {
    const FormatTraits& f = formatTraits(spec.format);
    if (spec.granularity != Granularity::Tensor || f.fixedBlock)
        throw Error("static activation quantization (with calibration data) uses one scale per tensor: give "
                    "granularity 'tensor' (e.g. int8:tensor), or leave out the calibration data for dynamic scales");
    ActivationQuant a;
    a.spec = spec;
    for (const RangeStats& r : ranges) a.staticParams.push_back(f.fit(f, r, r, optionsOf(spec)));
    return a;
}

OnnxClassifier::OnnxClassifier(const OnnxModel& model, const std::map<std::string, std::vector<float>>& replaced,
                               std::optional<ActivationQuant> activations)
    : m_model(model), m_session(model.graph(), replaced), m_act(std::move(activations)) {
    if (m_act && m_act->isStatic() && m_act->staticParams.size() != m_session.linearNodes().size())
        throw Error(model.path().string() + ": " + std::to_string(m_act->staticParams.size()) +
                    " activation scales for " + std::to_string(m_session.linearNodes().size()) + " linear nodes");
    // One hook: quantize the input (when asked), then show it to the observer (when set).
    m_session.setLinearInputHook([this](std::size_t k, const OnnxNode& node, const OnnxValue& v) -> std::optional<OnnxValue> {
        std::optional<OnnxValue> q = m_act ? quantizedInput(*m_act, k, node, v) : std::nullopt;
        if (m_observer) m_observer(k, node, q ? *q : v);
        return q;
    });
}

std::vector<float> OnnxClassifier::logits(const Tensor& x, std::int64_t batch, std::int64_t& classes,
                                          const JobContext& job) const {
    checkImages(x, m_model);
    const std::vector<float> data = x.toFloats();
    const std::int64_t n = x.shape()[0];
    batch = std::max<std::int64_t>(batch, 1);
    std::vector<float> out;
    classes = 0;
    for (std::int64_t first = 0; first < n; first += batch) {
        job.step(first, n, "classifying");
        const std::int64_t b = std::min(batch, n - first);
        const auto result = m_session.run({batchOf(data, x.shape(), first, b)});
        const OnnxValue& y = result.at(0);
        if (y.isInt || y.shape.empty() || y.shape[0] != b || y.numel() % b)
            throw Error(m_model.path().string() + ": output '" + m_model.graph().outputs[0].name + "' " +
                        shapeToString(y.shape) + " is not [batch, classes] logits for a batch of " + std::to_string(b));
        if (classes == 0) classes = y.numel() / b;
        out.insert(out.end(), y.f.begin(), y.f.end());
    }
    job.step(n, n, "classified");
    return out;
}

ClassifierResult OnnxClassifier::evaluate(const Tensor& x, const std::vector<std::int64_t>& labels,
                                          std::int64_t batch, const JobContext& job) const {
    std::int64_t classes = 0;
    const std::vector<float> l = logits(x, batch, classes, job);
    return scoreLogits(l, classes, labels);
}

ClassifierResult scoreLogits(const std::vector<float>& logits, std::int64_t classes,
                             const std::vector<std::int64_t>& labels) {
    const auto n = static_cast<std::int64_t>(labels.size());
    if (classes < 1 || static_cast<std::int64_t>(logits.size()) != n * classes)
        throw Error(std::to_string(labels.size()) + " labels for " + std::to_string(logits.size()) + " logits of " +
                    std::to_string(classes) + " classes: the image and label counts differ");
    ClassifierResult r;
    r.n = n;
    r.classes = classes;
    for (std::int64_t i = 0; i < n; ++i) {
        const float* row = logits.data() + i * classes;
        const auto pred = static_cast<std::int64_t>(std::max_element(row, row + classes) - row);
        r.predictions.push_back(pred);
        if (pred == labels[static_cast<std::size_t>(i)]) ++r.nCorrect;
        else r.misclassified.push_back(i);
    }
    r.accuracy = n ? static_cast<double>(r.nCorrect) / static_cast<double>(n) : 0.0;
    return r;
}

double argmaxAgreement(const ClassifierResult& a, const ClassifierResult& b) {
    if (a.predictions.size() != b.predictions.size() || a.predictions.empty()) return 0.0;
    std::size_t same = 0;
    for (std::size_t i = 0; i < a.predictions.size(); ++i) same += a.predictions[i] == b.predictions[i];
    return static_cast<double>(same) / static_cast<double>(a.predictions.size());
}

nlohmann::json ClassifierResult::toJson() const {
    return {{"accuracy", accuracy}, {"n_correct", nCorrect}, {"n", n}, {"misclassified", misclassified}};
}

} // namespace qs::core
