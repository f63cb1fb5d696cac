// SPDX-License-Identifier: MIT
#include "quantscope/plugin/view_context.h"

#include "quantscope/plugin/job_service.h"

namespace qs::plugins {

ViewContext::ViewContext(const core::Registries& registries, QObject* parent)
    : QObject(parent), m_registries(registries), m_jobs(new JobService(this)) {}

void ViewContext::setData(const ChosenData& data) {
    if (data == m_data) return;
    m_data = data;
    emit dataChanged();
}

ViewContext::~ViewContext() = default;

void ViewContext::setModel(std::shared_ptr<const core::Model> model) {
    setSelectedLayer({});
    if (m_quantResult) setQuantResult(std::nullopt);
    const bool hadLayers = !m_layers.empty();
    m_layers.clear();
    m_layerIndex.clear();
    setLayerRules(nlohmann::json::array()); // rules name the weights of one model
    m_model = std::move(model);
    emit modelChanged();
    if (hadLayers) emit layersChanged();
}

void ViewContext::setLayers(std::vector<core::LayerReport> layers) {
    m_layers = std::move(layers);
    m_layerIndex.clear();
    for (std::size_t i = 0; i < m_layers.size(); ++i)
        m_layerIndex.emplace(m_layers[i].info.name, i);
    if (!m_selectedLayer.isEmpty() && !findLayer(m_selectedLayer)) setSelectedLayer({});
    emit layersChanged();
}

const core::LayerReport* ViewContext::findLayer(const QString& name) const {
    const auto it = m_layerIndex.find(name.toStdString());
    return it == m_layerIndex.end() ? nullptr : &m_layers[it->second];
}

void ViewContext::beginQuantResult(const core::QuantJob& job) {
    core::ModelQuantResult partial;
    partial.job = job;
    m_quantResult = std::move(partial);
    m_quantComplete = false;
    m_resultIndex.clear();
    emit quantResultChanged();
}

void ViewContext::addLayerResult(const core::LayerQuantResult& layer) {
    if (!m_quantResult) beginQuantResult({});
    m_resultIndex[layer.name] = m_quantResult->layers.size();
    m_quantResult->layers.push_back(layer);
    emit layerResultAdded(QString::fromStdString(layer.name));
}

void ViewContext::setQuantResult(std::optional<core::ModelQuantResult> result) {
    m_quantResult = std::move(result);
    m_quantComplete = m_quantResult.has_value();
    reindexResult();
    emit quantResultChanged();
}

const core::LayerQuantResult* ViewContext::layerResult(const QString& name) const {
    if (!m_quantResult) return nullptr;
    const auto it = m_resultIndex.find(name.toStdString());
    return it == m_resultIndex.end() ? nullptr : &m_quantResult->layers[it->second];
}

void ViewContext::setSelectedLayer(const QString& name) {
    if (name == m_selectedLayer) return;
    m_selectedLayer = name;
    emit selectedLayerChanged(m_selectedLayer);
}

void ViewContext::setCurrentSpec(const core::QuantSpec& spec) {
    if (spec.toJson() == m_currentSpec.toJson()) return;
    m_currentSpec = spec;
    emit currentSpecChanged();
}

void ViewContext::setLayerRules(nlohmann::json rules) {
    if (!rules.is_array()) rules = nlohmann::json::array();
    if (rules == m_layerRules) return;
    m_layerRules = std::move(rules);
    emit layerRulesChanged();
}

void ViewContext::setProjectPath(const QString& path) {
    setSelectedRunId(0);
    m_projectPath = path;
    emit projectChanged(m_projectPath);
}

void ViewContext::notifyProjectRunsChanged() {
    emit projectRunsChanged();
}

void ViewContext::setPlanPreview(std::optional<PlanPreview> preview) {
    if (preview == m_planPreview) return;
    m_planPreview = std::move(preview);
    emit planPreviewChanged();
}

void ViewContext::setSelectedRunId(qint64 id) {
    if (id == m_selectedRunId) return;
    m_selectedRunId = id;
    emit selectedRunChanged(m_selectedRunId);
}

void ViewContext::reindexResult() {
    m_resultIndex.clear();
    if (!m_quantResult) return;
    for (std::size_t i = 0; i < m_quantResult->layers.size(); ++i)
        m_resultIndex.emplace(m_quantResult->layers[i].name, i);
}

} // namespace qs::plugins
