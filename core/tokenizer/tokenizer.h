// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qs::core {

/// Text <-> token ids for a language model. Implementations are immutable after loading, so one
/// instance may encode from several threads at once.
class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    /// Token ids of `text` (UTF-8), exactly as the model's reference tokenizer produces them, with no
    /// BOS/EOS added (the evaluation protocols add none; see bosId()).
    virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;

    /// The text of `ids`. Returns the exact bytes the tokens stand for (invalid UTF-8 is not replaced,
    /// so decode(encode(s)) == s for every s the tokenizer keeps losslessly). Ids that name no token
    /// (e.g. padding rows of an lm_head larger than the vocabulary) are skipped.
    virtual std::string decode(std::span<const std::int32_t> ids) const = 0;

    /// Number of ids: the largest id of the vocabulary and added tokens, plus one.
    virtual int vocabSize() const = 0;

    /// The id of a token given in the vocabulary's own spelling ("Ġthe", "▁the", "<0x0A>", "<|endoftext|>").
    virtual std::optional<std::int32_t> tokenId(std::string_view piece) const = 0;

    /// The vocabulary spelling of `id`; empty when no token has that id.
    virtual std::string tokenPiece(std::int32_t id) const = 0;

    /// One line naming the kind, e.g. "byte-level BPE (tokenizer.json), 512 tokens".
    virtual std::string description() const = 0;

    /// The beginning-of-sequence token, when the model has one.
    std::optional<std::int32_t> bosId() const { return m_bos; }
    /// The end-of-sequence token, when the model has one.
    std::optional<std::int32_t> eosId() const { return m_eos; }
    /// Sets the BOS id (the loaders take it from tokenizer_config.json or the model file).
    void setBosId(std::optional<std::int32_t> id) { m_bos = id; }
    /// Sets the EOS id.
    void setEosId(std::optional<std::int32_t> id) { m_eos = id; }
    /// Whether the model's own tokenizer puts BOS before a text (Hugging Face's add_bos_token, GGUF's
    /// tokenizer.ggml.add_bos_token). Our evaluation protocol adds none; llama.cpp's tools do when set.
    bool addsBos() const { return m_addBos && m_bos.has_value(); }
    /// Sets whether BOS is added (the loaders take it from tokenizer_config.json or the model file).
    void setAddsBos(bool add) { m_addBos = add; }

private:
    std::optional<std::int32_t> m_bos;
    std::optional<std::int32_t> m_eos;
    bool m_addBos = false;
};

/// Loads the tokenizer of a Hugging Face model directory: tokenizer.json when present, else a
/// SentencePiece tokenizer.model; BOS/EOS come from tokenizer_config.json when it names them, and
/// whether BOS is added from its add_bos_token, else from tokenizer.json's TemplateProcessing
/// post-processor, else true for a SentencePiece tokenizer.model (LlamaTokenizer's default).
/// `modelDir` may also be one of those files itself, or a .gguf file (see loadGgufTokenizer). Throws Error naming the file and the problem
/// ("<dir>: no tokenizer.json or tokenizer.model", unsupported components, malformed content).
std::unique_ptr<Tokenizer> loadTokenizer(const std::filesystem::path& modelDir);

/// Loads a Hugging Face tokenizer.json (BPE models: byte-level or SentencePiece-style).
std::unique_ptr<Tokenizer> loadHfTokenizerJson(const std::filesystem::path& file);

/// Loads a SentencePiece tokenizer.model (BPE or Unigram), read without libsentencepiece.
std::unique_ptr<Tokenizer> loadSentencePieceModel(const std::filesystem::path& file);

/// A tokenizer.json document already parsed; `origin` names it in errors and the description.
std::unique_ptr<Tokenizer> loadHfTokenizerJson(const nlohmann::json& root, const std::filesystem::path& origin);

/// One SentencePiece vocabulary entry. Types as in sentencepiece_model.proto (and GGUF's
/// tokenizer.ggml.token_type): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
struct SentencePieceEntry {
    std::string text;
    float score = 0.0f;
    int type = 1;
};

/// How a SentencePiece vocabulary given as entries is applied (the model proto's trainer/normalizer flags).
struct SentencePieceOptions {
    bool unigram = false;               ///< Unigram (Viterbi) instead of score-ordered BPE merges
    bool byteFallback = false;          ///< unknown characters become <0xAB> byte pieces
    bool addDummyPrefix = true;         ///< a "▁" before the text
    bool removeExtraWhitespaces = true; ///< collapse runs of spaces, trim the ends
    std::optional<std::int32_t> bos, eos;
};

/// A SentencePiece tokenizer from entries (e.g. GGUF metadata); `origin` names it in errors.
std::unique_ptr<Tokenizer> makeSentencePieceTokenizer(const std::filesystem::path& origin,
                                                      std::vector<SentencePieceEntry> pieces,
                                                      const SentencePieceOptions& options);

/// The tokenizer stored in a GGUF file's metadata (tokenizer.ggml.*): "gpt2" (byte-level BPE with the
/// pre-tokenizer named by tokenizer.ggml.pre) and "llama" (SentencePiece BPE by scores). Throws Error
/// naming the file for a missing or malformed key or an unsupported tokenizer model / pre-tokenizer.
std::unique_ptr<Tokenizer> loadGgufTokenizer(const std::filesystem::path& ggufFile);

} // namespace qs::core
