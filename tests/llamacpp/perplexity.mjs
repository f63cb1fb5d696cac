// SPDX-License-Identifier: MIT
// llama.cpp's own perplexity of a GGUF file, through node-llama-cpp's prebuilt CPU runtime:
// llama-perplexity's protocol (tools/perplexity), so tests can hold our figures against llama.cpp's.
//   node perplexity.mjs MODEL.gguf TEXT --ctx N [--chunks K] [--save-logits FILE] [--kld-base OTHER.gguf]
//   node perplexity.mjs MODEL.gguf TEXT --ctx N [--chunks K] --speed THREADS
// Prints one JSON object: {"perplexity", "mean_nll", "chunks", "ctx", "tokens_scored", "add_bos", ...}.
// --speed (scripts/bench.sh's peer) instead times llama.cpp's forward pass over the chunks on THREADS
// threads, best of 3: {"tokens_per_second", ...}. It asks for the last position's logits only, so the
// LM head runs for one row of each chunk, not all of them as in llama-perplexity: a bound on its speed.
// Probabilities come from controlledEvaluate at temperature 0, which returns the whole distribution;
// at any other temperature the sampler's top-k/top-p cut it first and the figures go silently wrong.
import {getLlama} from "node-llama-cpp";
import fs from "node:fs";

function parseArgs(argv) {
    const out = {positional: []};
    for (let i = 0; i < argv.length; ++i) {
        if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[++i];
        else out.positional.push(argv[i]);
    }
    return out;
}

// Every scored position's full distribution (Float64Array over the vocabulary) of one model.
async function chunkDistributions(llama, modelPath, tokens, ctx, chunks, bos) {
    const model = await llama.loadModel({modelPath});
    const context = await model.createContext({contextSize: ctx, batchSize: ctx, sequences: 1});
    const sequence = context.getSequence();
    const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    const first = Math.floor(ctx / 2);
    const out = [];
    for (let c = 0; c < chunks; ++c) {
        const input = tokens.slice(c * ctx, (c + 1) * ctx);
        if (bos !== null) input[0] = bos;
        await sequence.clearHistory();
        const items = input.map((t, j) => j >= first && j < ctx - 1
            ? [t, {generateNext: {probabilities: true, options: {temperature: 0}}}] : t);
        const results = await sequence.controlledEvaluate(items);
        for (let j = first; j < ctx - 1; ++j) {
            const p = new Float64Array(vocab);
            for (const [token, prob] of results[j].next.probabilities) p[token] = prob;
            out.push({p, target: tokens[c * ctx + j + 1]});
        }
    }
    await context.dispose();
    await model.dispose();
    return {rows: out, vocab};
}

const args = parseArgs(process.argv.slice(2));
const [modelPath, textPath] = args.positional;
const ctx = Number(args.ctx ?? 128);
const llama = await getLlama({gpu: false, build: "never", skipDownload: true, logLevel: "error"});

// The text as llama-perplexity reads it: one trailing newline removed, BOS first when the model adds it.
let text = fs.readFileSync(textPath, "utf8");
if (text.endsWith("\n")) text = text.slice(0, -1);
const tokenizerModel = await llama.loadModel({modelPath});
const addBos = tokenizerModel.tokens.shouldPrependBosToken && tokenizerModel.tokens.bos !== null;
const bos = addBos ? tokenizerModel.tokens.bos : null;
const tokens = [...(addBos ? [bos] : []), ...tokenizerModel.tokenize(text, false)];
await tokenizerModel.dispose();
if (tokens.length < 2 * ctx) throw new Error(`${textPath}: ${tokens.length} tokens, fewer than 2 x ctx`);
const chunks = Math.min(Math.floor(tokens.length / ctx), Number(args.chunks ?? Infinity));

if (args.speed) {
    const model = await llama.loadModel({modelPath});
    const threads = Number(args.speed);
    const context = await model.createContext({contextSize: ctx, batchSize: ctx, sequences: 1, threads});
    const sequence = context.getSequence();
    let best = Infinity;
    for (let rep = 0; rep < 3; ++rep) {
        const start = process.hrtime.bigint();
        for (let c = 0; c < chunks; ++c) {
            const input = tokens.slice(c * ctx, (c + 1) * ctx);
            if (bos !== null) input[0] = bos;
            await sequence.clearHistory();
            await sequence.evaluateWithoutGeneratingNewTokens(input);
        }
        best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
    }
    console.log(JSON.stringify({tokens_per_second: chunks * ctx / best, seconds_best: best, chunks, ctx, threads}));
    process.exit(0);
}

const {rows, vocab} = await chunkDistributions(llama, modelPath, tokens, ctx, chunks, bos);
let nll = 0;
for (const r of rows) nll -= Math.log(r.p[r.target]);
const result = {perplexity: Math.exp(nll / rows.length), mean_nll: nll / rows.length, chunks, ctx,
                tokens_scored: rows.length, add_bos: addBos, data_tokens: tokens.length, vocab};

if (args["save-logits"]) {
    // llama-perplexity's --kl-divergence-base file, from the distributions (log p_i - log p_max is
    // logit_i - max_logit, which is all its 16-bit encoding keeps).
    const nv = 2 * Math.floor((vocab + 1) / 2) + 4;
    const header = Buffer.alloc(20 + 4 * chunks * ctx);
    header.write("_logits_", 0, "latin1");
    header.writeUInt32LE(ctx, 8);
    header.writeInt32LE(vocab, 12);
    header.writeInt32LE(chunks, 16);
    for (let i = 0; i < chunks * ctx; ++i) header.writeInt32LE(tokens[i], 20 + 4 * i);
    const body = Buffer.alloc(rows.length * nv * 2);
    rows.forEach((r, k) => {
        let logMax = -Infinity, logMin = Infinity;
        for (let i = 0; i < vocab; ++i) {
            const l = Math.log(r.p[i]);
            logMax = Math.max(logMax, l);
            logMin = Math.min(logMin, l);
        }
        const minRel = Math.fround(Math.max(logMin - logMax, -16));
        const scale = Math.fround(-minRel / 65535);
        const base = k * nv * 2;
        body.writeFloatLE(scale, base);
        body.writeFloatLE(Math.fround(minRel + logMax), base + 4);
        for (let i = 0; i < vocab; ++i) {
            const rel = Math.log(r.p[i]) - logMax;
            body.writeUInt16LE(rel > minRel && scale > 0 ? Math.min(65535, Math.round((rel - minRel) / scale)) : 0, base + 8 + 2 * i);
        }
    });
    fs.writeFileSync(args["save-logits"], Buffer.concat([header, body]));
}

if (args["kld-base"]) {
    // KL(P_base || P) with both distributions straight from llama.cpp, as a check on file-based KLDs.
    const base = await chunkDistributions(llama, args["kld-base"], tokens, ctx, chunks, bos);
    let kld = 0, same = 0;
    rows.forEach((r, k) => {
        const b = base.rows[k].p;
        let argQ = 0, argB = 0;
        for (let i = 0; i < vocab; ++i) {
            if (b[i] > 0) kld += b[i] * (Math.log(b[i]) - Math.log(r.p[i]));
            if (r.p[i] > r.p[argQ]) argQ = i;
            if (b[i] > b[argB]) argB = i;
        }
        same += argQ === argB;
    });
    result.kld_mean = kld / rows.length;
    result.same_top = same / rows.length;
    let baseNll = 0;
    for (const r of base.rows) baseNll -= Math.log(r.p[r.target]);
    result.base_perplexity = Math.exp(baseNll / base.rows.length);
}
console.log(JSON.stringify(result));
