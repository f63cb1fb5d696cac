// SPDX-License-Identifier: MIT
#include "landscape_view.h"

#include "common/analysis_panel.h"
#include "common/layer_names.h"
#include "common/param_form.h"
#include "common/plot_export.h"
#include "common/plot_layout.h"
#include "landscape_plot.h"
#include "experiment/run_export.h"
#include "quant/recipe.h"
#include "store/project.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>
#include <stdexcept>

namespace qs::views {
namespace {

// Okabe-Ito colours, as the other views.
const QColor kColours[] = {QColor(0, 114, 178), QColor(230, 159, 0), QColor(0, 158, 115)};
const QColor kSelected(213, 94, 0);

struct BarFigure {
    const char* key;
    const char* label;
};
const BarFigure kBarFigures[] = {
    {"curvature_1", QT_TRANSLATE_NOOP("LandscapeView", "curvature along the first direction's part (vᵀH v)")},
    {"curvature_2", QT_TRANSLATE_NOOP("LandscapeView", "curvature along the second direction's part")},
    {"trace", QT_TRANSLATE_NOOP("LandscapeView", "Hessian trace tr(H) (Hutchinson)")},
    {"eigen", QT_TRANSLATE_NOOP("LandscapeView", "top Hessian eigenvalue")}};

int layerOfRow(const std::string& label) {
    return label.rfind("layer ", 0) == 0 ? std::atoi(label.c_str() + 6) : -1;
}

} // namespace

LandscapeView::LandscapeView(plugins::ViewContext* context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_panel(new AnalysisPanel(context, "landscape", AnalysisPanel::Data::Evaluation, 8, this)),
      m_useRecipe(new QCheckBox(tr("Along the recipe's error"), this)),
      m_barFigure(new QComboBox(this)), m_note(new QLabel(this)), m_slices(new QCustomPlot(this)),
      m_grid(new QCustomPlot(this)), m_bars(new QCustomPlot(this)) {
    setObjectName(QStringLiteral("landscapeView"));
    m_useRecipe->setObjectName(QStringLiteral("landscapeUseRecipe"));
    m_useRecipe->setChecked(true);
    m_useRecipe->setToolTip(tr("v = Q(W) − W of the selected run's recipe, or with no run selected of the panel's "
                               "spec and layer rules with RTN; off: the form's direction (random:SEED, eigen)"));
    m_barFigure->setObjectName(QStringLiteral("landscapeBarFigure"));
    for (const BarFigure& f : kBarFigures) m_barFigure->addItem(tr(f.label), QString::fromLatin1(f.key));
    // Sized by a short text, not the longest figure's (the view must fit beside the docks).
    m_barFigure->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_barFigure->setMinimumContentsLength(16);
    m_note->setObjectName(QStringLiteral("landscapeNote"));
    m_note->setWordWrap(true);
    m_slices->setObjectName(QStringLiteral("landscapeSlices"));
    m_grid->setObjectName(QStringLiteral("landscapeGrid"));
    m_bars->setObjectName(QStringLiteral("landscapeBars"));
    for (QCustomPlot* p : {m_slices, m_grid, m_bars}) p->setMinimumSize(220, 180);
    m_slices->legend->setVisible(true);
    placeLegendBelow(m_slices->legend, m_slices->axisRect(), 2);
    m_grid->xAxis->setLabel(tr("t along the first direction"));
    m_grid->yAxis->setLabel(tr("t along the second direction"));
    m_bars->xAxis->setTickLabelRotation(60);
    installPlotExportMenu(m_slices, [] { return QStringLiteral("landscape_slices"); });
    installPlotExportMenu(m_grid, [] { return QStringLiteral("landscape_grid"); });
    installPlotExportMenu(m_bars, [this] { return QStringLiteral("landscape_") + m_barFigure->currentData().toString(); });

    auto* side = new QWidget(this);
    auto* sideLayout = new QVBoxLayout(side);
    sideLayout->setContentsMargins(0, 0, 0, 0);
    sideLayout->addWidget(m_useRecipe);
    sideLayout->addWidget(m_panel, 1);
    auto* barRow = new QHBoxLayout;
    barRow->addWidget(new QLabel(tr("Bars:"), this));
    barRow->addWidget(m_barFigure, 1);
    auto* barBox = new QWidget(this);
    auto* barLayout = new QVBoxLayout(barBox);
    barLayout->setContentsMargins(0, 0, 0, 0);
    barLayout->addLayout(barRow);
    barLayout->addWidget(m_bars, 1);
    auto* top = new QSplitter(Qt::Horizontal, this);
    top->addWidget(m_slices);
    top->addWidget(m_grid);
    auto* plots = new QSplitter(Qt::Vertical, this);
    plots->addWidget(top);
    plots->addWidget(barBox);
    layOutNoteAndBody(this, m_note, side, plots);

    m_panel->setRequestHook([this](core::AnalysisRequest& r) {
        if (!m_useRecipe->isChecked()) return;
        const core::Registries& registries = m_context->registries();
        core::Recipe recipe;
        if (m_context->selectedRunId() && !m_context->projectPath().isEmpty()) {
            auto project = core::Project::open(m_context->projectPath().toStdString(), false);
            recipe = core::storedRunRecipe(*project, m_context->selectedRunId(), registries).recipe;
        } else {
            nlohmann::json j = m_context->currentSpec().toJson();
            j["method"] = "rtn";
            if (!m_context->layerRules().empty()) j["layers"] = m_context->layerRules();
            recipe = core::recipeFromJson(j, registries, "landscape view");
        }
        r.params["direction"] = "recipe:" + recipe.canonical();
        if (core::recipeNeedsCalibration(recipe, registries)) {
            if (m_context->data().calibration.isEmpty())
                throw std::runtime_error(tr("The recipe's method is calibrated: choose calibration data (toolbar ▸ "
                                            "Data ▸ Calibration data…)")
                                             .toStdString());
            r.calibPath = m_context->data().calibration.toStdString();
        }
    });
    connect(m_panel, &AnalysisPanel::changed, this, &LandscapeView::redraw);
    connect(m_barFigure, &QComboBox::currentIndexChanged, this, &LandscapeView::redraw);
    connect(context, &plugins::ViewContext::selectedLayerChanged, this, &LandscapeView::redraw);
    connect(m_bars, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable* p, int index, QMouseEvent*) {
        if (p->interface1D() && index >= 0 && index < p->interface1D()->dataCount())
            selectLayer(static_cast<int>(std::lround(p->interface1D()->dataMainKey(index))));
    });
    redraw();
}

void LandscapeView::setUseRecipe(bool on) { m_useRecipe->setChecked(on); }

void LandscapeView::setBarFigure(const QString& key) { m_barFigure->setCurrentIndex(m_barFigure->findData(key)); }

QString LandscapeView::noteText() const { return m_note->text(); }

bool LandscapeView::selectLayer(int layer) { return selectDecoderLayer(*m_context, layer); }

void LandscapeView::redraw() {
    for (QCustomPlot* p : {m_slices, m_grid, m_bars}) {
        p->clearPlottables();
        p->clearItems();
    }
    if (auto* scale = m_grid->findChild<QCPColorScale*>()) m_grid->plotLayout()->remove(scale);
    const auto& outcome = m_panel->outcome();
    QString note;
    if (!outcome) {
        m_grid->setVisible(false);
        note = tr("Measure ▸ the loss along the current recipe's quantization error (t = 0: the model, t = 1: the "
                  "quantized model), its exact curvature, and per-layer curvature.");
    } else {
        const nlohmann::json& s = outcome->output.summary;
        note = tr("Loss at W %1 (perplexity %2).").arg(s.value("loss", 0.0), 0, 'f', 6).arg(s.value("perplexity", 0.0), 0, 'f', 4);
        drawLandscapeSlices(m_slices, s);
        for (const auto& dir : s.value("directions", nlohmann::json::array())) {
            const QString radius = dir["basin_radius"].is_null()
                                       ? tr("beyond the slice")
                                       : QString::number(dir["basin_radius"].get<double>(), 'g', 4);
            note += tr("<br><b>%1</b>: |v| %2, g·v %3, vᵀHv %4, sharpness %5, basin radius %6")
                        .arg(QString::fromStdString(dir.value("source", "")).toHtmlEscaped().left(80))
                        .arg(dir.value("l2_norm", 0.0), 0, 'g', 4)
                        .arg(dir.value("dir_deriv", 0.0), 0, 'g', 4)
                        .arg(dir.value("curvature", 0.0), 0, 'g', 4)
                        .arg(dir.value("sharpness", 0.0), 0, 'g', 4)
                        .arg(radius);
        }
        // The grid by index (its t values need not be evenly spaced), labelled with the t values.
        m_grid->setVisible(s.contains("grid"));
        if (s.contains("grid")) {
            const auto& grid = s["grid"];
            const auto& ts = s["t"];
            const auto& t2s = s["t2"];
            auto* map = new QCPColorMap(m_grid->xAxis, m_grid->yAxis);
            map->data()->setSize(int(ts.size()), int(t2s.size()));
            map->data()->setRange(QCPRange(0, double(ts.size()) - 1), QCPRange(0, double(t2s.size()) - 1));
            for (std::size_t i = 0; i < ts.size(); ++i)
                for (std::size_t k = 0; k < t2s.size(); ++k)
                    map->data()->setCell(int(i), int(k), grid[i][k].get<double>());
            auto* scale = new QCPColorScale(m_grid);
            m_grid->plotLayout()->addElement(0, 1, scale);
            scale->axis()->setLabel(tr("loss"));
            map->setColorScale(scale);
            map->setGradient(QCPColorGradient::gpThermal);
            map->setInterpolate(false); // one cell per grid point
            map->rescaleDataRange();
            QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText), yt(new QCPAxisTickerText);
            for (std::size_t i = 0; i < ts.size(); ++i) xt->addTick(double(i), QString::number(ts[i].get<double>()));
            for (std::size_t k = 0; k < t2s.size(); ++k) yt->addTick(double(k), QString::number(t2s[k].get<double>()));
            m_grid->xAxis->setTicker(xt);
            m_grid->yAxis->setTicker(yt);
            m_grid->xAxis->setRange(-0.5, double(ts.size()) - 0.5);
            m_grid->yAxis->setRange(-0.5, double(t2s.size()) - 0.5);
        }
        // Per-layer bars.
        const std::string key = m_barFigure->currentData().toString().toStdString();
        auto* bars = new QCPBars(m_bars->xAxis, m_bars->yAxis);
        bars->setPen(Qt::NoPen);
        bars->setBrush(kColours[0]);
        auto* selected = new QCPBars(m_bars->xAxis, m_bars->yAxis);
        selected->setPen(Qt::NoPen);
        selected->setBrush(kSelected);
        int selectedLayer = -1;
        if (const auto& model = m_context->model())
            if (const core::WeightInfo* w = model->find(m_context->selectedLayer().toStdString())) selectedLayer = w->layerIndex;
        QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
        double lo = 0, hi = 0;
        int shown = 0;
        for (const auto& [label, v] : outcome->output.rows) {
            const int layer = layerOfRow(label);
            if (layer < 0 || !v.contains(key)) continue;
            const double y = v[key].get<double>();
            (layer == selectedLayer ? selected : bars)->addData(layer, y);
            ticker->addTick(layer, QString::number(layer));
            lo = std::min(lo, y), hi = std::max(hi, y);
            ++shown;
        }
        m_bars->xAxis->setTicker(ticker);
        m_bars->xAxis->setLabel(tr("decoder layer"));
        m_bars->xAxis->setRange(-0.7, std::max(1, shown) - 0.3);
        m_bars->yAxis->setRange(lo - (hi - lo) * 0.05, hi + std::max(1e-12, (hi - lo) * 0.1));
        m_bars->yAxis->setLabel(m_barFigure->currentText());
        if (!shown) note += tr("<br>The bars' figure was not measured (per_layer, trace or eigen in the form).");
    }
    if (!m_panel->status().isEmpty()) note += QStringLiteral("<br>") + m_panel->status().toHtmlEscaped();
    m_note->setText(note);
    for (QCustomPlot* p : {m_slices, m_grid, m_bars}) p->replot();
}

} // namespace qs::views
