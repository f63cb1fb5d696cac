// SPDX-License-Identifier: MIT
#include "experiment/text_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace qs::core {
namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// Left-aligned first column, right-aligned numbers; widths from the content.
std::string renderTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width(header.size());
    for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
    for (const auto& r : rows)
        for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
    std::ostringstream os;
    auto line = [&](const std::vector<std::string>& cells) {
        for (std::size_t c = 0; c < cells.size(); ++c) {
            const std::string pad(width[c] - cells[c].size(), ' ');
            os << (c ? "  " : "") << (c == 0 ? cells[c] + pad : pad + cells[c]);
        }
        os << '\n';
    };
    line(header);
    std::size_t total = 0;
    for (auto w : width) total += w + 2;
    os << std::string(total - 2, '-') << '\n';
    for (const auto& r : rows) line(r);
    return os.str();
}

} // namespace

std::string formatLayerTable(const Model& model, const std::vector<LayerReport>& layers) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : layers) {
        const auto& s = l.stats;
        rows.push_back({l.info.name, shapeToString(l.info.shape), std::string(dtypeName(l.info.dtype)),
                        std::to_string(numel(l.info.shape)), fmt("%.4g", s.min), fmt("%.4g", s.max),
                        fmt("%.4g", s.std), fmt("%.2f", s.kurtosis), fmt("%.3f", 100.0 * s.outlierShare),
                        fmt("%.3g", s.channelAbsmaxMin) + ".." + fmt("%.3g", s.channelAbsmaxMax)});
    }
    std::ostringstream os;
    const auto& cfg = model.config();
    os << "Model " << model.path().string() << "  (" << cfg.modelType << ", " << cfg.numLayers << " layers, hidden "
       << cfg.hiddenSize << ", " << model.parameterCount() << " parameters, " << model.quantizableParameterCount()
       << " in quantizable Linear weights)\n\n";
    os << renderTable({"layer", "shape", "dtype", "params", "min", "max", "std", "kurtosis", "out>6sd %",
                       "chan absmax"},
                      rows);
    return os.str();
}

std::string formatQuantResult(const ModelQuantResult& r) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : r.layers)
        rows.push_back({l.name, fmt("%.4f", l.bitsPerWeight), fmt("%.4e", l.error.mse), fmt("%.2f", l.error.sqnrDb)});
    std::ostringstream os;
    os << "Quantization: " << r.job.method << " " << r.job.spec.label() << "\n\n";
    os << renderTable({"layer", "bits/w", "MSE", "SQNR dB"}, rows);
    os << "\nbits per weight: " << fmt("%.4f", r.bitsPerWeight) << " over " << r.quantizedParams
       << " quantized weights; " << fmt("%.4f", r.modelBitsPerWeight) << " over all " << r.totalParams
       << " parameters (unquantized at stored width)\n";
    return os.str();
}

} // namespace qs::core
