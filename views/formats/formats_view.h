// SPDX-License-Identifier: MIT
#pragma once
#include "statistics/error_metrics.h"
#include "statistics/histogram.h"
#include "common/number_line.h"

#include <QFutureWatcher>
#include <QWidget>
#include <memory>
#include <quantscope/plugin/view_context.h>
#include <vector>

class QCPBars;
class QCPGraph;
class QCPItemRect;
class QCPTextElement;
class QComboBox;
class QCustomPlot;
class QLabel;
class QRadioButton;
class QTableView;
class QTextBrowser;
class QTimer;

namespace qs::core {
class CancelToken;
}

namespace qs::views {

class FormatTrialModel;
class FormatTrialProxy;

/// Teaches and compares number formats on the selected layer:
/// - a number line: the chosen format's grid, scaled by its per-tensor fit to the layer, as tick
///   marks over the layer's weight histogram, on a linear or a log |x| axis;
/// - the histogram of the quantization error x - x' under the chosen spec, with MSE and SQNR;
/// - a sortable table of every format and granularity on the layer (core::compareFormats, run off
///   the GUI thread; a newer layer cancels a running comparison);
/// - the chosen format's explanation and facts.
/// The chosen spec is ViewContext::currentSpec(): clicking a row or picking a format here sets it,
/// so the Parameters form follows, and editing the form moves this view. Work starts only while the
/// view is visible. Both plots export PNG/PDF/SVG from their context menus.
class FormatsView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit FormatsView(plugins::ViewContext* context, QWidget* parent = nullptr);
    ~FormatsView() override;

    /// The number-line plot (histogram + grid ticks).
    QCustomPlot* numberLinePlot() const { return m_linePlot; }
    /// The quantization-error histogram.
    QCustomPlot* errorPlot() const { return m_errorPlot; }
    /// The comparison table.
    QTableView* tableView() const { return m_table; }
    /// The table's source model (one row per FormatTrial).
    FormatTrialModel* trialModel() const { return m_model; }
    /// The table's sorting proxy.
    FormatTrialProxy* trialProxy() const { return m_proxy; }
    /// The layer shown (whose data is loaded), empty when none.
    const QString& shownLayer() const { return m_shownLayer; }
    /// The spec the plots show, i.e. the context's current spec once its result arrived.
    const core::QuantSpec& shownSpec() const { return m_shown.spec; }
    /// The error of the shown spec on the shown layer.
    const core::ErrorMetrics& shownError() const { return m_shown.error; }
    /// True while the comparison table is being computed.
    bool isComparing() const;
    /// True once the number line and error histogram show the context's current spec.
    bool isDetailCurrent() const;
    /// Number of tick marks drawn on the number line.
    int tickCount() const;
    /// The explanation of the chosen format, as plain text.
    QString explanationText() const;
    /// True when the number line's x axis is log |x|.
    bool isLogAxis() const;
    /// Switches the number line between a linear and a log |x| axis.
    void setLogAxis(bool on);
    /// The first line of the number line's title.
    QString numberLineTitle() const;
    /// The first line of the error plot's title (holds MSE and SQNR).
    QString errorTitle() const;

signals:
    /// The comparison table was filled (or cleared).
    void trialsUpdated();
    /// The number line and error histogram were redrawn.
    void detailUpdated();

protected:
    /// Starts the work that waited for the view to be shown.
    void showEvent(QShowEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    struct Loaded;
    struct Compared;
    struct Detail;
    struct Progress;

    void buildPlots();
    void onLayerOrModelChanged();
    void onCurrentSpecChanged();
    void onLoaded();
    void startCompare();
    void onCompared();
    void startDetail();
    void onDetail();
    void onRowActivated(const QModelIndex& proxyIndex);
    void onFormatPicked(int index);
    void syncControls();
    void drawNumberLine();
    void drawError();
    void updateExplanation();
    void updateStatus();
    void showLineMenu(const QPoint& pos);
    void showTableMenu(const QPoint& pos);
    QString baseName(const QString& what) const;
    QString scaleCaption() const;

    plugins::ViewContext* m_context;
    QComboBox* m_formatCombo;
    QRadioButton* m_linear;
    QRadioButton* m_log;
    QLabel* m_status;
    QCustomPlot* m_linePlot = nullptr;
    QCPGraph* m_valueGraph = nullptr;
    QCPGraph* m_tickGraph = nullptr;
    QCPItemRect* m_denseBand = nullptr;
    QCPTextElement* m_lineTitle = nullptr;
    QCPTextElement* m_lineSubtitle = nullptr;
    QCustomPlot* m_errorPlot = nullptr;
    QCPBars* m_errorBars = nullptr;
    QCPTextElement* m_errorTitle = nullptr;
    QCPTextElement* m_errorSubtitle = nullptr;
    QTableView* m_table;
    FormatTrialModel* m_model;
    FormatTrialProxy* m_proxy;
    QTextBrowser* m_explanation;
    QTimer* m_progressTimer;

    std::unique_ptr<QFutureWatcher<std::shared_ptr<Loaded>>> m_loadWatcher;
    std::unique_ptr<QFutureWatcher<std::shared_ptr<Compared>>> m_compareWatcher;
    std::unique_ptr<QFutureWatcher<std::shared_ptr<Detail>>> m_detailWatcher;
    std::shared_ptr<core::CancelToken> m_compareCancel;
    std::shared_ptr<Progress> m_compareProgress;
    quint64 m_loadGeneration = 0;
    quint64 m_compareGeneration = 0;
    quint64 m_detailGeneration = 0;
    bool m_dirty = true;         ///< the layer changed while the view was hidden
    bool m_syncingTable = false; ///< selecting the current spec's row from code
    int m_compareGroup = 0;      ///< group size of the table's rows
    QString m_compareError;

    // The loaded layer.
    QString m_shownLayer;
    const core::Model* m_dataModel = nullptr;
    std::shared_ptr<const std::vector<float>> m_data;
    std::int64_t m_rows = 0, m_cols = 0;
    QString m_loadError;

    // What the plots show.
    struct Shown {
        core::QuantSpec spec;
        NumberLine line;
        core::Histogram values;    ///< weights over [min, max]
        core::Histogram logValues; ///< log10 |weight| of the non-zero weights
        core::Histogram errors;    ///< x - x'
        core::ErrorMetrics error;
        double bitsPerWeight = 0;
        bool valid = false;
        QString failure;
    } m_shown;
};

} // namespace qs::views
