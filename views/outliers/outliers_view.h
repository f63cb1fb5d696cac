// SPDX-License-Identifier: MIT
#pragma once
#include "calib/linear_stats.h"
#include "outlier_stats.h"

#include <QFutureWatcher>
#include <QWidget>
#include <map>
#include <quantscope/plugin/view_context.h>
#include <string>
#include <vector>

class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QTableWidget;

namespace qs::views {

/// Where outliers live, for teaching: the selected layer's per-channel max |w| (output or input
/// channels) with its percentile bands across channels and the top channels listed, the matching
/// calibration activations' per-channel max |x| when statistics are loaded, and the kurtosis of every
/// layer as bars — next to the selected run's per-layer SQNR ("after") when the project stores it.
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
    /// token .npy) off the GUI thread, through core's calibration cache; emits activationStatsChanged.
    void collectActivationStats(const QString& file);
    /// Why the last collection failed, empty when it did not.
    const QString& activationError() const { return m_actError; }

signals:
    /// Activation statistics were set, collected or cleared.
    void activationStatsChanged();

private:
    void updateChannels();
    void drawChannels();
    void drawLayers();
    void loadActivations();

    plugins::ViewContext* m_context;
    QComboBox* m_axis;
    QPushButton* m_activations;
    QLabel* m_note;
    QCustomPlot* m_channelPlot;
    QCustomPlot* m_layerPlot;
    QTableWidget* m_top;
    WeightChannelStats m_stats;
    QString m_shownLayer;
    std::vector<core::LinearInputStats> m_actStats;
    std::map<std::string, std::size_t> m_actIndex;
    std::vector<QString> m_layerNames; ///< bars of the layer plot, in order
    std::unique_ptr<QFutureWatcher<std::vector<core::LinearInputStats>>> m_watcher;
    QString m_actError;
};

} // namespace qs::views
