// SPDX-License-Identifier: MIT
#include "nn/rope.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace qs::core {
namespace {

double numberKey(const nlohmann::json& scaling, const char* key, double def) {
    const auto it = scaling.find(key);
    if (it == scaling.end() || it->is_null()) return def;
    if (!it->is_number()) throw Error(std::string("config.json: rope_scaling.") + key + " must be a number");
    return it->get<double>();
}

double requiredKey(const nlohmann::json& scaling, const char* key) {
    const auto it = scaling.find(key);
    if (it == scaling.end() || !it->is_number())
        throw Error(std::string("config.json: rope_scaling.") + key + " is missing or not a number");
    return it->get<double>();
}

} // namespace

Rope::Rope(const ModelConfig& config)
    : m_headDim(config.headDim), m_theta(config.ropeTheta), m_maxPositions(config.maxPositions) {
    if (m_headDim <= 0 || m_headDim % 2 != 0)
        throw Error("RoPE needs an even head_dim, got " + std::to_string(m_headDim));
    const nlohmann::json& raw = config.raw;
    const auto it = raw.is_object() ? raw.find("rope_scaling") : raw.end();
    m_inverse = defaultInverse(m_theta);
    if (it == raw.end() || it->is_null()) return;
    const nlohmann::json& s = *it;
    if (!s.is_object()) throw Error("config.json: rope_scaling must be an object or null");
    if (s.contains("rope_type") && s["rope_type"].is_string())
        m_type = s["rope_type"].get<std::string>();
    else if (s.contains("type") && s["type"].is_string())
        m_type = s["type"].get<std::string>();
    const int half = m_headDim / 2;

    if (m_type == "default") return;
    m_factor = requiredKey(s, "factor");
    if (!(m_factor > 0)) throw Error("config.json: rope_scaling.factor must be positive");
    if (m_type == "linear") {
        for (auto& f : m_inverse)
            f /= static_cast<float>(m_factor);
    } else if (m_type == "dynamic") {
        // Depends on the sequence length: computed in inverseFrequencies().
    } else if (m_type == "llama3") {
        const float factor = static_cast<float>(m_factor);
        const double lowFreqFactor = requiredKey(s, "low_freq_factor");
        const double highFreqFactor = requiredKey(s, "high_freq_factor");
        const double oldContext = requiredKey(s, "original_max_position_embeddings");
        const double lowFreqWavelen = oldContext / lowFreqFactor;
        const double highFreqWavelen = oldContext / highFreqFactor;
        for (int i = 0; i < half; ++i) {
            const float inv = m_inverse[i];
            const float wavelen = static_cast<float>(2 * std::numbers::pi) / inv;
            float scaled = wavelen > lowFreqWavelen ? inv / factor : inv;
            if (!(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)) {
                const float smooth = static_cast<float>((oldContext / wavelen - lowFreqFactor) /
                                                        (highFreqFactor - lowFreqFactor));
                scaled = (1 - smooth) * scaled / factor + smooth * scaled;
            }
            m_inverse[i] = scaled;
        }
    } else if (m_type == "yarn") {
        const double dim = m_headDim;
        const double maxPos = numberKey(s, "original_max_position_embeddings", m_maxPositions);
        m_attentionFactor =
            static_cast<float>(numberKey(s, "attention_factor", 0.1 * std::log(m_factor) + 1.0));
        const double betaFast = numberKey(s, "beta_fast", 32), betaSlow = numberKey(s, "beta_slow", 1);
        auto correctionDim = [&](double rotations) {
            return dim * std::log(maxPos / (rotations * 2 * std::numbers::pi)) / (2 * std::log(m_theta));
        };
        const double low = std::max(std::floor(correctionDim(betaFast)), 0.0);
        double high = std::min(std::ceil(correctionDim(betaSlow)), dim - 1);
        if (low == high) high += 0.001;
        for (int i = 0; i < half; ++i) {
            const float extrapolation = m_inverse[i];
            const float posFreq = 1.0f / extrapolation;
            const float interpolation = 1.0f / (static_cast<float>(m_factor) * posFreq);
            const float ramp = std::clamp(static_cast<float>((i - low) / (high - low)), 0.0f, 1.0f);
            const float extrapolationFactor = 1.0f - ramp;
            m_inverse[i] = interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor;
        }
    } else {
        throw Error("config.json: rope_scaling type '" + m_type +
                    "' is not supported (supported: default, linear, dynamic, llama3, yarn)");
    }
}

std::vector<float> Rope::defaultInverse(double base) const {
    // HF: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all in float32.
    const int half = m_headDim / 2;
    std::vector<float> inv(half);
    const float b = static_cast<float>(base);
    for (int i = 0; i < half; ++i) {
        const float e = static_cast<float>(2 * i) / static_cast<float>(m_headDim);
        const float p = static_cast<float>(std::pow(static_cast<double>(b), static_cast<double>(e)));
        inv[i] = 1.0f / p;
    }
    return inv;
}

std::vector<float> Rope::inverseFrequencies(std::int64_t seqLen) const {
    if (m_type != "dynamic") return m_inverse;
    // Dynamic NTK: the base grows once the sequence exceeds max_position_embeddings.
    const double maxPos = m_maxPositions > 0 ? m_maxPositions : static_cast<double>(seqLen);
    const double len = std::max<double>(static_cast<double>(seqLen), maxPos);
    const double dim = m_headDim;
    const double base = m_theta * std::pow(m_factor * len / maxPos - (m_factor - 1), dim / (dim - 2));
    return defaultInverse(base);
}

Rope::Table Rope::table(std::int64_t seqLen) const {
    // HF: freqs = inv_freq * position in float32, then cos/sin (of the float32 angle) times the
    // attention factor.
    const int half = m_headDim / 2;
    const std::vector<float> inv = inverseFrequencies(seqLen);
    Table t;
    t.cos.resize(static_cast<std::size_t>(seqLen) * half);
    t.sin.resize(t.cos.size());
    for (std::int64_t p = 0; p < seqLen; ++p)
        for (int i = 0; i < half; ++i) {
            const float angle = static_cast<float>(p) * inv[i];
            t.cos[p * half + i] =
                static_cast<float>(std::cos(static_cast<double>(angle))) * m_attentionFactor;
            t.sin[p * half + i] =
                static_cast<float>(std::sin(static_cast<double>(angle))) * m_attentionFactor;
        }
    return t;
}

void Rope::apply(const Table& t, float* x, std::int64_t seqLen, int numHeads) const {
    const int hd = m_headDim, half = hd / 2;
    const std::int64_t rowStride = static_cast<std::int64_t>(numHeads) * hd;
    for (std::int64_t p = 0; p < seqLen; ++p) {
        const float* cosv = t.cos.data() + p * half;
        const float* sinv = t.sin.data() + p * half;
        float* row = x + p * rowStride;
        for (int h = 0; h < numHeads; ++h) {
            float* v = row + static_cast<std::int64_t>(h) * hd;
            for (int i = 0; i < half; ++i) {
                const float a = v[i], b = v[i + half];
                v[i] = a * cosv[i] - b * sinv[i];
                v[i + half] = b * cosv[i] + a * sinv[i];
            }
        }
    }
}

} // namespace qs::core
