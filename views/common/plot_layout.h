// SPDX-License-Identifier: MIT
#pragma once

class QCPAxisRect;
class QCPLegend;

namespace qs::views {

/// Moves `legend` out of any inset (where it would cover data) into a row of its own right under `rect`
/// in the plot's main layout, `wrap` entries to a row. Idempotent: a legend already there stays.
void placeLegendBelow(QCPLegend* legend, QCPAxisRect* rect, int wrap = 4);

} // namespace qs::views
