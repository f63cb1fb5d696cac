// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/predict_run.h"

#include <QString>
#include <QWidget>
#include <functional>
#include <nlohmann/json.hpp>

class QComboBox;
class QLabel;
class QPushButton;
class QTableWidget;

namespace qs::gui {

/// Predicts a grid's recipes off the GUI thread (the window's predict job, learning from the open
/// project's runs). `start` returns why it cannot start (empty: started) and later calls `done` on the
/// GUI thread with the predict analysis's "predictions", or with an error text.
struct SweepPredictor {
    using Done = std::function<void(const nlohmann::json& predictions, const QString& error)>;
    std::function<QString(const nlohmann::json& grid, Done done)> start;
    std::function<void()> cancel;
    QString unavailable; ///< why predicting is off (no project, no runs yet); empty when it is on
};

/// The Sweep dialog's predictions: "Predict quality" (a cancellable job) and the grid's recipes in the
/// order the sweep will run them (grid order, most promising or most uncertain first: the same
/// core::orderSweepPoints the sweep uses), each with its predicted perplexity and change, the
/// learners' disagreement and its bits; recipes already in the project are not predicted.
/// A changed grid drops the predictions (they were of another grid).
class SweepPredictions : public QWidget {
    Q_OBJECT
public:
    /// Over `registries` (must outlive it): the grid's points are expanded and ordered with them.
    explicit SweepPredictions(const core::Registries& registries, QWidget* parent = nullptr);

    void setPredictor(SweepPredictor predictor);
    /// The grid the dialog would run (null when incomplete); predictions of another grid are dropped.
    void setGrid(const nlohmann::json& grid);
    /// Starts predicting the grid; false with the reason in the note.
    bool predict();
    /// Stops a running prediction (the dialog closing).
    void stop();
    bool isPredicting() const { return m_predicting; }
    /// The last predictions of the current grid (an empty array: none).
    const nlohmann::json& predictions() const { return m_predictions; }
    core::SweepOrder order() const;
    /// Chooses the run order (only with predictions; without, the grid's).
    void setOrder(core::SweepOrder order);
    QTableWidget* table() const { return m_table; }
    QString noteText() const;

signals:
    /// Predicting started or ended (the dialog keeps Run off meanwhile).
    void predictingChanged(bool predicting);

private:
    void finish(const nlohmann::json& grid, const nlohmann::json& predictions, const QString& error);
    void refresh();

    const core::Registries& m_registries;
    SweepPredictor m_predictor;
    nlohmann::json m_grid, m_predictedGrid, m_predictions = nlohmann::json::array();
    bool m_predicting = false;
    QPushButton* m_button;
    QLabel* m_note;
    QComboBox* m_order;
    QTableWidget* m_table;
};

} // namespace qs::gui
