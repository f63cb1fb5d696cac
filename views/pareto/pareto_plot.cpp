// SPDX-License-Identifier: MIT
#include "pareto_plot.h"

#include "common/plot_layout.h"

#include <algorithm>
#include <cmath>
#include <qcustomplot.h>

namespace qs::views {

namespace {

void setScale(QCPAxis* axis, bool log) {
    if (log) {
        axis->setScaleType(QCPAxis::stLogarithmic);
        QSharedPointer<QCPAxisTickerLog> ticker(new QCPAxisTickerLog);
        ticker->setSubTickCount(8);
        axis->setTicker(ticker);
        axis->setNumberFormat(QStringLiteral("g"));
        axis->setNumberPrecision(4);
    } else {
        axis->setScaleType(QCPAxis::stLinear);
        axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        axis->setNumberFormat(QStringLiteral("g"));
        axis->setNumberPrecision(6);
    }
}

// Range of `values` with a margin (multiplicative on a log axis); non-positive values are left
// out on a log axis, where they cannot be drawn.
QCPRange paddedRange(std::vector<double> values, bool log) {
    if (log) values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return v <= 0; }), values.end());
    if (values.empty()) return log ? QCPRange(1, 10) : QCPRange(0, 1);
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    double a = *lo, b = *hi;
    if (log) {
        const double f = (b > a) ? std::pow(b / a, 0.06) : 1.3;
        return QCPRange(a / f, b * f);
    }
    const double pad = (b > a) ? 0.06 * (b - a) : std::max(std::abs(a) * 0.1, 0.5);
    return QCPRange(a - pad, b + pad);
}

// The q-th quantile (0..1) of sorted values, linear between order statistics.
double quantile(const std::vector<double>& sorted, double q) {
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const auto i = static_cast<std::size_t>(pos);
    const double f = pos - static_cast<double>(i);
    return i + 1 < sorted.size() ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

const QCPScatterStyle::ScatterShape kShapes[] = {QCPScatterStyle::ssDisc, QCPScatterStyle::ssSquare,
                                                 QCPScatterStyle::ssDiamond, QCPScatterStyle::ssTriangle,
                                                 QCPScatterStyle::ssTriangleInverted, QCPScatterStyle::ssCross};

} // namespace

QColor seriesColor(std::size_t i) {
    // Okabe–Ito: distinguishable for colour-blind readers and in grey print.
    static const QColor colors[] = {QColor(0, 114, 178),  QColor(213, 94, 0),  QColor(0, 158, 115),
                                    QColor(204, 121, 167), QColor(230, 159, 0), QColor(86, 180, 233),
                                    QColor(120, 120, 120)};
    return colors[i % (sizeof(colors) / sizeof(colors[0]))];
}

ParetoYRange paretoYRange(const ParetoData& data, const ParetoStyle& style) {
    const bool log = style.logY && !mayBeNonPositive(style.y);
    const bool up = higherIsBetter(style.y);
    // On a log axis the quartiles are taken of log values; non-positive values cannot be drawn there.
    const auto t = [log](double v) { return log ? std::log(v) : v; };
    const auto usable = [log](double v) { return std::isfinite(v) && (!log || v > 0); };
    std::vector<double> all, shown;
    for (const auto& s : data.series)
        for (const auto& p : s.points)
            if (usable(p.y)) all.push_back(p.y);
    if (data.referenceY && usable(*data.referenceY)) shown.push_back(*data.referenceY); // always in view
    if (data.preview) { // the plan being chosen and its predicted frontier too
        for (const auto& [x, y] : data.preview->frontier)
            if (usable(y)) shown.push_back(y);
        if (data.preview->current && usable(data.preview->current->second)) shown.push_back(data.preview->current->second);
    }
    if (style.range == ParetoRange::All || all.size() < 4) {
        shown.insert(shown.end(), all.begin(), all.end());
    } else if (style.range == ParetoRange::Front) {
        for (const auto& p : data.front)
            if (usable(p.y)) shown.push_back(p.y);
    } else {
        std::vector<double> sorted;
        for (double v : all) sorted.push_back(t(v));
        std::sort(sorted.begin(), sorted.end());
        const double q1 = quantile(sorted, 0.25), q3 = quantile(sorted, 0.75), fence = 3 * (q3 - q1);
        for (double v : all)
            if (up ? t(v) >= q1 - fence : t(v) <= q3 + fence) shown.push_back(v);
    }
    const QCPRange r = paddedRange(shown, log);
    ParetoYRange out{r.lower, r.upper, 0};
    for (double v : all) out.outside += (v < r.lower || v > r.upper) ? 1 : 0;
    return out;
}

void drawPareto(QCustomPlot* plot, const ParetoData& data, const ParetoStyle& style) {
    plot->clearPlottables();
    plot->clearItems();
    // Title row: created once, text updated.
    QCPTextElement* title = nullptr;
    if (plot->plotLayout()->rowCount() > 1)
        title = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0));
    if (!style.title.isEmpty()) {
        if (!title) {
            plot->plotLayout()->insertRow(0);
            QFont f = plot->font();
            f.setPointSizeF(f.pointSizeF() * 1.15);
            f.setBold(true);
            title = new QCPTextElement(plot, style.title, f);
            plot->plotLayout()->addElement(0, 0, title);
        }
        title->setText(style.title);
    } else if (title) {
        title->setText(QString());
    }

    plot->xAxis->setLabel(QString::fromStdString(axisTitle(style.x)));
    plot->yAxis->setLabel(QString::fromStdString(axisTitle(style.y)));
    const bool logY = style.logY && !mayBeNonPositive(style.y);
    setScale(plot->xAxis, style.logX);
    setScale(plot->yAxis, logY);

    std::vector<double> xs;
    for (std::size_t i = 0; i < data.series.size(); ++i) {
        const auto& s = data.series[i];
        auto* g = plot->addGraph();
        g->setName(QString::fromStdString(s.name));
        g->setLineStyle(QCPGraph::lsNone);
        const QColor c = seriesColor(i);
        g->setPen(QPen(c, 1.5));
        g->setScatterStyle(QCPScatterStyle(kShapes[i % std::size(kShapes)], c, c.lighter(150), 8));
        // A graph sorts by key; several runs may share an x, which a graph keeps.
        QVector<double> k, v;
        for (const auto& p : s.points) {
            k << p.x;
            v << p.y;
            xs.push_back(p.x);
        }
        g->setData(k, v);
    }
    if (data.preview) {
        for (const auto& [x, y] : data.preview->frontier) xs.push_back(x);
        if (data.preview->current) xs.push_back(data.preview->current->first);
    }
    if (!data.front.empty()) {
        auto* f = plot->addGraph();
        f->setName(QObject::tr("Pareto front"));
        // Left value held until the next front point: the best y reachable with at most that x.
        f->setLineStyle(QCPGraph::lsStepLeft);
        f->setPen(QPen(QColor(30, 30, 30), 1.6));
        f->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(30, 30, 30), 1.4), Qt::NoBrush, 13));
        QVector<double> k, v;
        for (const auto& p : data.front) {
            k << p.x;
            v << p.y;
        }
        f->setData(k, v, true);
    }
    plot->xAxis->setRange(paddedRange(xs, style.logX));
    const ParetoYRange yRange = paretoYRange(data, style);
    plot->yAxis->setRange(yRange.lo, yRange.hi);
    if (style.labels)
        for (const auto& s : data.series)
            for (const auto& p : s.points) {
                auto* label = new QCPItemText(plot);
                label->setClipToAxisRect(true);
                label->position->setCoords(p.x, p.y);
                label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
                label->setPadding(QMargins(5, 0, 0, 2));
                QFont f = plot->font();
                f.setPointSizeF(f.pointSizeF() * 0.8);
                label->setFont(f);
                label->setColor(QColor(60, 60, 60));
                label->setText(QString::fromStdString(p.label));
            }
    if (data.referenceY && (!logY || *data.referenceY > 0)) {
        auto* line = new QCPItemStraightLine(plot);
        // x as a ratio of the axis rect: plot coordinate 0 does not exist on a log axis.
        for (QCPItemPosition* pos : {line->point1, line->point2})
            pos->setTypeX(QCPItemPosition::ptAxisRectRatio);
        line->point1->setCoords(0, *data.referenceY);
        line->point2->setCoords(1, *data.referenceY);
        line->setPen(QPen(QColor(90, 90, 90), 1.2, Qt::DashLine));
        auto* label = new QCPItemText(plot);
        label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
        label->position->setTypeY(QCPItemPosition::ptPlotCoords);
        label->position->setCoords(0.99, *data.referenceY);
        label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
        label->setText(QObject::tr("fp32 reference"));
        label->setColor(QColor(90, 90, 90));
    }
    if (data.preview) { // the plan being chosen: its solver's predicted frontier and the plan itself
        const QColor c(213, 94, 0);
        auto* curve = plot->addGraph();
        curve->setName(QString::fromStdString(data.preview->name));
        curve->setPen(QPen(c, 1.5, Qt::DashLine));
        QVector<double> k, v;
        for (const auto& [x, y] : data.preview->frontier) k << x, v << y;
        curve->setData(k, v);
        if (data.preview->current) {
            auto* plan = plot->addGraph();
            plan->setName(QObject::tr("plan being chosen"));
            plan->setLineStyle(QCPGraph::lsNone);
            plan->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, QPen(c, 2), Qt::NoBrush, 16));
            plan->setData(QVector<double>{data.preview->current->first}, QVector<double>{data.preview->current->second});
        }
    }
    if (style.selectedRunId != 0) {
        for (const auto& s : data.series)
            for (const auto& p : s.points)
                if (p.runId == style.selectedRunId) {
                    auto* g = plot->addGraph();
                    g->setName(QObject::tr("selected run"));
                    g->setLineStyle(QCPGraph::lsNone);
                    g->setScatterStyle(
                        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(220, 0, 0), 2.5), Qt::NoBrush, 18));
                    g->setData(QVector<double>{p.x}, QVector<double>{p.y});
                }
    }
    plot->legend->setVisible(true);
    plot->legend->setFont(plot->font());
    placeLegendBelow(plot->legend, plot->axisRect());
    plot->replot();
}

const ParetoPoint* paretoPointAt(const QCustomPlot* plot, const ParetoData& data, QPointF pixel, double radius) {
    const ParetoPoint* best = nullptr;
    double bestDist = radius * radius;
    for (const auto& s : data.series)
        for (const auto& p : s.points) {
            const double px = plot->xAxis->coordToPixel(p.x), py = plot->yAxis->coordToPixel(p.y);
            const double d = (px - pixel.x()) * (px - pixel.x()) + (py - pixel.y()) * (py - pixel.y());
            if (d <= bestDist) {
                bestDist = d;
                best = &p;
            }
        }
    return best;
}

QString paretoTooltip(const ParetoPoint& p, const ParetoStyle& style, bool onFront) {
    QString text = QStringLiteral("<b>%1</b><br>run %2 · %3<br>%4: %5<br>%6: %7")
                       .arg(QString::fromStdString(p.label).toHtmlEscaped())
                       .arg(p.runId)
                       .arg(QString::fromStdString(p.group).toHtmlEscaped())
                       .arg(QString::fromStdString(axisTitle(style.x)).toHtmlEscaped())
                       .arg(QString::number(p.x, 'g', 5))
                       .arg(QString::fromStdString(axisTitle(style.y)).toHtmlEscaped())
                       .arg(QString::number(p.y, 'g', 5));
    if (onFront) text += QObject::tr("<br><i>on the Pareto front</i>");
    return text;
}

} // namespace qs::views
