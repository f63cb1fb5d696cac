// SPDX-License-Identifier: MIT
#pragma once
#include <QWidget>
#include <quantscope/plugin/view_context.h>

class QLabel;
class QLineEdit;
class QTableView;

namespace qs::views {

class LayerTableModel;
class LayerTableProxy;

/// The "Model" dock: a filter line and the sortable layer table. Selecting a row selects the layer
/// everywhere; Ctrl+C and the context menu copy rows as CSV.
class LayerTableView : public QWidget {
    Q_OBJECT
public:
    /// A table over `context` (which must outlive it).
    explicit LayerTableView(plugins::ViewContext* context, QWidget* parent = nullptr);

    /// The table widget (for tests and the main window's focus handling).
    QTableView* tableView() const { return m_table; }
    /// The name filter line.
    QLineEdit* filterEdit() const { return m_filter; }
    /// The source model.
    LayerTableModel* tableModel() const { return m_model; }
    /// The sort/filter proxy the table shows.
    LayerTableProxy* proxyModel() const { return m_proxy; }
    /// The visible rows (filtered, in view order) or only the selected ones, as CSV.
    QString csv(bool selectedOnly) const;
    /// Copies csv(selectedOnly) to the clipboard.
    void copyCsv(bool selectedOnly);
    /// Gives the selected quantizable weights a layer rule of their own (their earlier own rules are
    /// replaced): SPEC in --layer's syntax ("int8:channel:sym", "keep"); empty removes their rules.
    void setRuleForSelection(const QString& spec);
    /// Asks for a SPEC (checked before it is set) and sets it for the selection; false when cancelled.
    bool askRuleForSelection();
    /// The filter as a rule glob: the text itself when it has wildcards, else *TEXT*; empty when none.
    QString filterGlob() const;
    /// Appends the rule filterGlob()=SPEC (the CLI's --layer spelling, so the same rules give the same
    /// recipe key); false (nothing added) for an invalid SPEC or a glob that matches no quantizable weight.
    bool addRuleForFilter(const QString& spec);
    /// Names of the selected rows that quantizers touch, sorted.
    QStringList selectedQuantizableNames() const;

private:
    void onLayersChanged();
    void onQuantResultChanged();
    void onContextSelection(const QString& name);
    void onCurrentRowChanged();
    void updateSummary();
    void showContextMenu(const QPoint& pos);

    plugins::ViewContext* m_context;
    LayerTableModel* m_model;
    LayerTableProxy* m_proxy;
    QLineEdit* m_filter;
    QLabel* m_summary;
    QTableView* m_table;
    bool m_quantColumnsShown = false;
};

} // namespace qs::views
