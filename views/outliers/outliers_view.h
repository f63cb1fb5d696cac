// SPDX-License-Identifier: MIT
#pragma once
#include "statistics/linear_stats.h"
#include "outlier_stats.h"
#include "analysis/transformed_stats.h"

#include <QWidget>
#include <map>
#include <memory>
#include <optional>
#include <quantscope/plugin/view_context.h>
#include <string>
#include <vector>

class QComboBox;
class QCustomPlot;
class QCPAxisRect;
class QCPBarsGroup;
class QCPLegend;
class QLabel;
class QPushButton;
class QTableWidget;

namespace qs::views {

/// Per-layer kurtosis as the layer plot draws it, one entry per decoder Linear (NaN where unknown).
struct LayerKurtosis {
    std::vector<QString> names;                      ///< weight names, in the model's order
    std::vector<double> weightsBefore, weightsAfter; ///< Pearson kurtosis of all weights
    std::vector<double> actBefore, actAfter;         ///< core::activationKurtosis of the layer's input
};

/// Where outliers live, for teaching: the selected layer's per-channel max |w| (output or input
/// channels) with its percentile bands and top channels, the calibration activations' per-channel
/// max |x| when statistics are loaded, and the kurtosis of every layer (weights and activations) as
/// bars. "After" is either a transform of Registries::transforms with its default parameters (the
/// model's statistics in the transformed basis, computed off the GUI thread and cached in HDF5), or
/// with method "none" the selected run's per-layer SQNR when the project stores it.
class OutliersView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit OutliersView(plugins::ViewContext* context, QWidget* parent = nullptr);
    ~OutliersView() override;

    /// The per-channel plot and the per-layer plot (for export and tests).
    QCustomPlot* channelPlot() const { return m_channelPlot; }
    QCustomPlot* layerPlot() const { return m_layerPlot; }
    /// Statistics of the layer shown, empty vectors when none.
    const WeightChannelStats& channelStats() const { return m_stats; }
    /// Sets calibration activation statistics (one entry per Linear input site); empty clears.
    void setActivationStats(std::vector<core::LinearInputStats> stats);
    /// Statistics of a layer's input by weight name, nullptr when none are loaded.
    const core::LinearInputStats* activationStatsFor(const QString& weightName) const;
    /// Number of rows of the top-outlier table.
    int topChannelCount() const;
    /// Collects activation statistics of the open model over the first windows of `file` (text or
    /// token .npy) as a job of the context's job service (shown in the Jobs dock, cancellable), through
    /// core's calibration cache; emits activationStatsChanged when it ends. The same text then feeds the
    /// "after" side. False (with the reason in the note line) when no model is open or a job runs.
    bool collectActivationStats(const QString& file);
    /// Why the last collection failed, empty when it did not.
    const QString& activationError() const { return m_actError; }

    /// Chooses the "after" method: "none" or a transform name (as the chooser lists them).
    void setMethod(const QString& method);
    /// The chosen "after" method ("none" or a transform name).
    QString method() const;
    /// Statistics of the model after the chosen transform, nullptr for "none" or until computed.
    const core::TransformedStats* afterStats() const { return m_after ? &*m_after : nullptr; }
    /// Why the last "after" computation failed, empty when it did not.
    const QString& afterError() const { return m_afterError; }
    /// What the layer plot shows.
    const LayerKurtosis& layerKurtosis() const { return m_kurtosis; }

signals:
    /// Activation statistics were set, collected or cleared.
    void activationStatsChanged();
    /// The "after" statistics were computed, failed (afterError()) or cleared.
    void afterStatsChanged();

private:
    /// Which of the view's computations the job service is running for it.
    enum class OwnJob { None, Collect, After };

    void updateChannels();
    void drawChannels();
    void drawLayers();
    void drawRunSqnr(QCPAxisRect* rect);
    void loadActivations();
    void computeAfter();
    void onJobFinished();
    void updateActivationsButton();
    void showNote();

    plugins::ViewContext* m_context;
    QComboBox* m_axis;
    QComboBox* m_method;
    QPushButton* m_activations;
    QLabel* m_note;
    QCustomPlot* m_channelPlot;
    QCustomPlot* m_layerPlot;
    QCPAxisRect* m_actRect; ///< lower axis rect of the layer plot (activation kurtosis)
    QCPLegend* m_actLegend;
    QCPBarsGroup* m_weightGroup;
    QCPBarsGroup* m_actGroup;
    QTableWidget* m_top;
    WeightChannelStats m_stats;
    QString m_shownLayer;
    std::vector<core::LinearInputStats> m_actStats;
    std::map<std::string, std::size_t> m_actIndex;
    std::vector<QString> m_layerNames; ///< bars of the layer plot, in order
    LayerKurtosis m_kurtosis;
    std::map<std::string, std::string> m_siteOf; ///< weight -> input site, known once collected here
    QString m_actError;
    QString m_calibFile; ///< the text the activation statistics came from (feeds the "after" side)

    OwnJob m_ownJob = OwnJob::None;
    bool m_afterPending = false; ///< the after side waits for the running job to end
    std::optional<core::TransformedStats> m_after;
    QString m_afterError;
    QString m_progress; ///< the running computation's last progress message
};

} // namespace qs::views
