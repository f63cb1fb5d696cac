// SPDX-License-Identifier: MIT
#pragma once
#include "runs_model.h"

#include <QWidget>
#include <quantscope/plugin/view_context.h>

class QAction;
class QLabel;
class QMenu;
class QModelIndex;
class QPoint;
class QLineEdit;
class QTableView;

namespace qs::views {

/// Every run of the open project in a filterable, sortable table. Selecting a row selects the run
/// in the ViewContext (and follows it back); selecting two rows compares their layers side by side.
class RunsView : public QWidget {
    Q_OBJECT
public:
    /// A view over `context` (which must outlive it).
    explicit RunsView(plugins::ViewContext* context, QWidget* parent = nullptr);

    /// The runs model, its proxy and the comparison (for tests).
    RunsTableModel* model() const { return m_model; }
    RunsProxy* proxy() const { return m_proxy; }
    LayerCompareModel* comparison() const { return m_compare; }
    /// The runs table.
    QTableView* table() const { return m_table; }
    /// Re-reads the project's runs.
    void reload();
    /// Compares the layers of two runs (B − A); shows a message when either has none.
    void compare(qint64 a, qint64 b);
    /// Adds the "Load into form" action for the run at `row` (a proxy index) to `menu`: it asks the window
    /// (ViewContext::requestRecipeLoad) to put the run's recipe into the Parameters panel; disabled, with
    /// the reason, for the fp32 reference or no run.
    QAction* loadIntoFormAction(QMenu* menu, const QModelIndex& row);

private:
    void showContextMenu(const QPoint& pos);
    void onSelectionChanged();
    void followContext(qint64 id);

    plugins::ViewContext* m_context;
    RunsTableModel* m_model;
    RunsProxy* m_proxy;
    LayerCompareModel* m_compare;
    QLineEdit* m_filter;
    QTableView* m_table;
    QTableView* m_compareTable;
    QLabel* m_status;
    QLabel* m_compareTitle;
    bool m_following = false;
};

} // namespace qs::views
