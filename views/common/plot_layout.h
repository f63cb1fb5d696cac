// SPDX-License-Identifier: MIT
#pragma once

class QCPAxisRect;
class QCPLegend;
class QCPTextElement;
class QString;

namespace qs::views {

/// Moves `legend` out of any inset (where it would cover data) into a row of its own right under `rect`
/// in the plot's main layout, `wrap` entries to a row. Idempotent: a legend already there stays.
void placeLegendBelow(QCPLegend* legend, QCPAxisRect* rect, int wrap = 4);

/// Sets `text` on a plot's title or subtitle element, broken into lines after its " · ", ", " and ": " separators
/// wherever a line would be wider than the plot, so a long subtitle wraps instead of being cut.
void setWrappedText(QCPTextElement* element, const QString& text);

} // namespace qs::views
