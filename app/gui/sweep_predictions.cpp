// SPDX-License-Identifier: MIT
#include "sweep_predictions.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPointer>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>
#include <map>
#include <set>

namespace qs::gui {
namespace {

QTableWidgetItem* number(double v, const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setData(Qt::UserRole, v);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

} // namespace

SweepPredictions::SweepPredictions(const core::Registries& registries, QWidget* parent)
    : QWidget(parent), m_registries(registries), m_button(new QPushButton(tr("Predict quality"), this)),
      m_note(new QLabel(this)), m_order(new QComboBox(this)), m_table(new QTableWidget(this)) {
    setObjectName(QStringLiteral("sweepPredictions"));
    m_button->setObjectName(QStringLiteral("sweepPredictButton"));
    m_button->setToolTip(tr("Predict each recipe's quality before running it, from the project's evaluated runs "
                            "(random forest and ridge on landscape and weight features; Analyze ▸ Predicted quality)"));
    m_note->setObjectName(QStringLiteral("sweepPredictionNote"));
    m_note->setWordWrap(true);
    m_order->setObjectName(QStringLiteral("sweepOrder"));
    m_order->addItem(tr("grid order"), int(core::SweepOrder::Grid));
    m_order->addItem(tr("most promising first"), int(core::SweepOrder::Promising));
    m_order->addItem(tr("most uncertain first"), int(core::SweepOrder::Uncertain));
    m_order->setToolTip(tr("Most promising: the best predicted recipes are measured first. Most uncertain: where "
                           "the two learners disagree most, what teaches the predictor most."));
    m_table->setObjectName(QStringLiteral("sweepPredictionTable"));
    m_table->setColumnCount(5);
    m_table->setHorizontalHeaderLabels({tr("recipe, in run order"), tr("predicted ppl"), tr("predicted Δppl"),
                                        tr("uncertainty"), tr("bits/weight")});
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_table->verticalHeader()->setVisible(false);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionMode(QAbstractItemView::NoSelection);

    auto* row = new QHBoxLayout;
    row->addWidget(m_button);
    row->addWidget(m_note, 1);
    row->addWidget(new QLabel(tr("Run order:"), this));
    row->addWidget(m_order);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(row);
    layout->addWidget(m_table, 1);

    connect(m_button, &QPushButton::clicked, this, [this] { m_predicting ? stop() : void(predict()); });
    connect(m_order, &QComboBox::currentIndexChanged, this, &SweepPredictions::refresh);
    refresh();
}

void SweepPredictions::setPredictor(SweepPredictor predictor) {
    m_predictor = std::move(predictor);
    refresh();
}

void SweepPredictions::setGrid(const nlohmann::json& grid) {
    m_grid = grid;
    if (m_predictedGrid != grid) m_predictions = nlohmann::json::array();
    refresh();
}

core::SweepOrder SweepPredictions::order() const {
    return m_predictions.empty() ? core::SweepOrder::Grid : core::SweepOrder(m_order->currentData().toInt());
}

void SweepPredictions::setOrder(core::SweepOrder order) { m_order->setCurrentIndex(m_order->findData(int(order))); }

QString SweepPredictions::noteText() const { return m_note->text(); }

bool SweepPredictions::predict() {
    if (m_predicting) return false;
    QString why = !m_predictor.start          ? tr("Predictions need the main window.")
                  : !m_predictor.unavailable.isEmpty() ? m_predictor.unavailable
                  : m_grid.is_null()                  ? tr("Complete the grid first.")
                                                      : QString();
    if (why.isEmpty()) {
        QPointer<SweepPredictions> self(this);
        const nlohmann::json grid = m_grid;
        why = m_predictor.start(grid, [self, grid](const nlohmann::json& predictions, const QString& error) {
            if (self) self->finish(grid, predictions, error);
        });
    }
    if (!why.isEmpty()) {
        m_note->setText(why);
        return false;
    }
    m_predicting = true;
    m_note->setText(tr("Predicting… (Jobs dock)"));
    emit predictingChanged(true);
    refresh();
    return true;
}

void SweepPredictions::stop() {
    if (m_predicting && m_predictor.cancel) m_predictor.cancel();
}

void SweepPredictions::finish(const nlohmann::json& grid, const nlohmann::json& predictions, const QString& error) {
    m_predicting = false;
    if (error.isEmpty() && predictions.is_array()) {
        m_predictedGrid = grid;
        m_predictions = grid == m_grid ? predictions : nlohmann::json::array();
        if (m_order->currentIndex() == 0 && !m_predictions.empty()) setOrder(core::SweepOrder::Promising);
    }
    emit predictingChanged(false);
    refresh();
    if (!error.isEmpty()) m_note->setText(error);
}

void SweepPredictions::refresh() {
    m_button->setText(m_predicting ? tr("Stop predicting") : tr("Predict quality"));
    m_button->setEnabled(m_predicting || (m_predictor.start && m_predictor.unavailable.isEmpty() && !m_grid.is_null()));
    m_order->setEnabled(!m_predictions.empty() && !m_predicting);
    m_table->setRowCount(0);
    m_table->setVisible(!m_predictions.empty());
    if (m_predicting) return;
    if (m_predictions.empty()) {
        m_note->setText(m_predictor.unavailable.isEmpty()
                            ? tr("Predict each recipe's quality from the project's runs before running it.")
                            : m_predictor.unavailable);
        return;
    }
    // The rows in the sweep's own order, one per distinct recipe.
    std::map<std::string, const nlohmann::json*> byRecipe;
    for (const auto& p : m_predictions)
        byRecipe[core::recipeFromJson(p.at("recipe"), m_registries, "predictions").canonical()] = &p;
    std::set<std::string> shown;
    int predicted = 0;
    for (const core::SweepPoint& point :
         core::orderSweepPoints(core::expandGrid(m_grid, m_registries), m_predictions, order(), m_registries)) {
        if (!point.recipe || !shown.insert(point.recipe->canonical()).second) continue;
        const int row = m_table->rowCount();
        m_table->insertRow(row);
        m_table->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(point.recipe->label())));
        const auto it = byRecipe.find(point.recipe->canonical());
        if (it == byRecipe.end()) {
            m_table->setItem(row, 1, new QTableWidgetItem(tr("in the project")));
            continue;
        }
        ++predicted;
        const nlohmann::json& p = *it->second;
        const double change = std::expm1(p.value("predicted", 0.0)); // ln(ppl / ppl_fp32) → relative change
        if (p.contains("predicted_perplexity"))
            m_table->setItem(row, 1, number(p["predicted_perplexity"].get<double>(),
                                            QString::number(p["predicted_perplexity"].get<double>(), 'f', 3)));
        m_table->setItem(row, 2, number(change, QStringLiteral("%1%2 %").arg(change >= 0 ? "+" : "").arg(100 * change, 0, 'f', 2)));
        m_table->setItem(row, 3, number(p.value("uncertainty", 0.0), QString::number(p.value("uncertainty", 0.0), 'g', 3)));
        m_table->setItem(row, 4, number(p.value("bits_per_weight", 0.0), QString::number(p.value("bits_per_weight", 0.0), 'f', 3)));
    }
    m_note->setText(tr("%n recipe(s) predicted from the project's runs; the sweep runs them in the table's order.",
                       nullptr, predicted));
}

} // namespace qs::gui
