"""The translation pipeline: English -> target language with an attention encoder-decoder,
scored with BLEU and chrF against the same model without attention."""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from suite import decoding, plots
from suite.data import DataInfo, Skipped, Splits
from suite.metrics import MaskedSparseCrossentropy
from suite.pipeline import Pipeline
from suite.training import Trainer

from pipelines.translation import data, model
from pipelines.translation.config import TranslationConfig
from pipelines.translation.model import BOS, EOS, PAD

LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 20), (21, 30), (31, 60), (61, 10_000))
SAMPLES = 25


class TranslationPipeline(Pipeline):
    """Translates sentences with a BiLSTM encoder and an attention decoder; gettext or TSV."""

    name = "translation"
    config_cls = TranslationConfig
    main_metric = "bleu"
    main_baseline = "no_attention"
    monitor = "val_loss"
    monitor_mode = "min"

    # --- data and model -------------------------------------------------------------

    def load_data(self) -> Splits:
        cfg, m = self.config.data, self.config.model
        skipped = Skipped(cfg.on_error)
        if cfg.path:
            raw = data.read_tsv(cfg.path, skipped)
            source = str(cfg.path)
        else:
            raw = data.read_catalogs(cfg.locale_dir, cfg.target_lang, skipped)
            source = (f"embedded: English -> {cfg.target_lang} gettext catalogs in "
                      f"{Path(cfg.locale_dir) / cfg.target_lang / 'LC_MESSAGES'}")
        pairs = data.clean(raw, cfg.min_words, cfg.max_words)
        parts = data.split_by_source(pairs, cfg.val_fraction, cfg.test_fraction, cfg.seed,
                                     cfg.limit)
        sources, targets = data.columns(parts["train"])
        print(f"[{self.name}] learning subword vocabularies from {len(sources)} training "
              "pairs", file=sys.stderr)
        source_proto = model.train_tokenizer(sources, m.source_vocabulary)
        target_proto = model.train_tokenizer(targets, m.target_vocabulary)
        source_tokenizer, target_tokenizer = tokenizers(
            {"source_proto": source_proto, "target_proto": target_proto})
        datasets = {}
        for name, split in parts.items():
            s, t = data.columns(split)
            datasets[name] = model.examples(model.tokenize(source_tokenizer, s),
                                            model.tokenize(target_tokenizer, t), m.max_tokens)
        digest = hashlib.sha256()
        for name in ("train", "val", "test"):
            for s, t in parts[name]:
                digest.update(f"{name}\t{s}\t{t}\n".encode())
        info = DataInfo(
            fingerprint=digest.hexdigest()[:16],
            sizes={name: len(split) for name, split in parts.items()},
            source=source, skipped=list(skipped.items),
            extra={"pairs": parts, "source_proto": source_proto, "target_proto": target_proto,
                   "vocabulary_sizes": (int(source_tokenizer.vocab_size()),
                                        int(target_tokenizer.vocab_size()))},
        )
        return Splits(datasets["train"], datasets["val"], datasets["test"], info)

    def build_model(self, info: DataInfo, attention: str | None = "config") -> keras.Model:
        m = self.config.model
        net = model.Translator(
            *info.extra["vocabulary_sizes"],
            embedding_dim=m.embedding_dim, encoder_units=m.encoder_units,
            encoder_depth=m.encoder_depth, decoder_units=m.decoder_units,
            attention=m.attention if attention == "config" else attention,
            attention_units=m.attention_units, dropout=m.dropout,
            name="translator" if attention else "translator_no_attention",
        )
        net({"source": tf.ones((1, 2), tf.int32), "target_in": tf.ones((1, 2), tf.int32)})
        return self.trainer.compile(net, loss=MaskedSparseCrossentropy(m.label_smoothing))

    def batching(self, info: DataInfo):
        return model.bucketed_batches(self.config.model.bucket_width, self.config.model.max_tokens)

    # --- evaluation -------------------------------------------------------------------

    def evaluate(self, net: keras.Model, splits: Splits) -> dict[str, float]:
        info = splits.info
        self.test_pairs = info.extra["pairs"]["test"]
        sources, references = data.columns(self.test_pairs)
        print(f"[{self.name}] training the no-attention baseline", file=sys.stderr)
        baseline_trainer = Trainer(self.trainer.config)
        with baseline_trainer.scope():
            baseline = self.build_model(info, attention=None)
        baseline_trainer.fit(baseline, splits.train, splits.val, monitor=self.monitor,
                             mode=self.monitor_mode, batch=self.batching(info))

        self.info, self.outputs, metrics = info, {}, {}
        for prefix, translator in (("test", net), ("baseline_no_attention", baseline)):
            greedy, beam = self.translate(translator, info, sources,
                                          (1, self.config.model.beam_width))
            for search, hypotheses in (("greedy", greedy), ("beam", beam)):
                self.outputs[prefix, search] = hypotheses
                suffix = "" if search == "beam" else "_greedy"
                metrics[f"{prefix}_bleu{suffix}"] = _bleu(hypotheses, references)
                metrics[f"{prefix}_chrf{suffix}"] = sacrebleu.corpus_chrf(
                    hypotheses, [list(references)]).score
        self.parameters = {"attention": net.count_params(), "no attention": baseline.count_params()}
        self.by_length = bleu_by_length(sources, references,
                                        {"attention": self.outputs["test", "beam"],
                                         "no attention":
                                             self.outputs["baseline_no_attention", "beam"]})
        self.attention_examples = self._attention_examples(net, info, sources)
        return metrics

    def translate(self, net: keras.Model, info: DataInfo, sentences, beam_widths,
                  batch_size: int = 128) -> list[list[str]]:
        """Translations of `sentences` at each beam width, by the graph the export serves."""
        m = self.config.model
        source_tokenizer, target_tokenizer = tokenizers(info)
        graphs = [translation_graph(net, source_tokenizer, target_tokenizer, m.max_tokens,
                                    width, m.length_penalty) for width in beam_widths]
        fn = tf.function(lambda s: [graph(s)[0] for graph in graphs],
                         input_signature=[tf.TensorSpec([None], tf.string)])
        out = [[] for _ in beam_widths]
        for i in range(0, len(sentences), batch_size):
            batch = tf.constant(list(sentences[i:i + batch_size]), tf.string)
            for texts, result in zip(out, fn(batch)):
                texts += [t.decode("utf-8") for t in result.numpy()]
        return out

    def _attention_examples(self, net, info: DataInfo, sources) -> list[dict]:
        """Attention weights of the model's own translations of a few mid-length sentences."""
        mid_length = [s for s in dict.fromkeys(sources) if 6 <= len(s.split()) <= 14]
        picks = mid_length[:3] or list(dict.fromkeys(sources))[:3]
        m = self.config.model
        fn = tf.function(attention_graph(net, *tokenizers(info), m.max_tokens, m.beam_width,
                                         m.length_penalty))
        out = fn(tf.constant(picks, tf.string))
        examples = []
        for i, sentence in enumerate(picks):
            src = [p.decode() for p in out["source_pieces"][i].numpy() if p]
            tgt = [p.decode() for p in out["output_pieces"][i].numpy() if p]
            examples.append({"source": sentence,
                             "translation": out["translation"][i].numpy().decode(),
                             "source_pieces": src, "output_pieces": tgt,
                             "weights": out["weights"][i, :len(tgt), :len(src)].numpy()})
        return examples

    def figures(self, net: keras.Model, splits: Splits) -> dict:
        groups = [row["bucket"] for row in self.by_length]
        figures = {"bleu_by_length": plots.metric_by_group(
            groups, {name: [row[name] for row in self.by_length]
                     for name in ("attention", "no attention")},
            [row["sentences"] for row in self.by_length], metric="BLEU (beam search)",
            xlabel="source sentence length (words)",
            title="Test BLEU by source length: attention vs the final state only")}
        for i, ex in enumerate(self.attention_examples):
            figures[f"attention_{i + 1}"] = plots.attention_map(
                ex["weights"], ex["source_pieces"], ex["output_pieces"],
                title=f"{ex['source']}\n-> {ex['translation']}")
        return figures

    def artifacts(self) -> dict[str, str]:
        sources, references = data.columns(self.test_pairs)
        rows = ["| source | reference | attention (beam) | no attention (beam) |",
                "|---|---|---|---|"]
        for i in range(min(SAMPLES, len(sources))):
            cells = [sources[i], references[i], self.outputs["test", "beam"][i],
                     self.outputs["baseline_no_attention", "beam"][i]]
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        table = ["bucket,sentences,attention_bleu,no_attention_bleu"]
        table += [f"{r['bucket']},{r['sentences']},{r['attention']:.2f},{r['no attention']:.2f}"
                  for r in self.by_length]
        params = "\n".join(f"{k}: {v:,} parameters" for k, v in self.parameters.items())
        return {"samples.md": "\n".join(rows) + "\n", "bleu_by_length.csv": "\n".join(table) + "\n",
                "parameters.txt": params + "\n"}

    # --- export -----------------------------------------------------------------------

    def signature(self, info: DataInfo) -> dict:
        m = self.config.model
        return {
            "inputs": {"sentences": {
                "dtype": "string", "shape": [None],
                "description": f"UTF-8 English sentences; a source longer than {m.max_tokens} "
                               "subword pieces is truncated there"}},
            "outputs": {"translation": {"dtype": "string", "shape": [None]}},
            "endpoints": {"attention": {"sentences": {"dtype": "string", "shape": [None]}}},
            "decoding": {"beam_width": m.beam_width, "length_penalty": m.length_penalty,
                         "max_tokens": m.max_tokens},
        }

    def serving_model(self, net: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        m = self.config.model
        source_tokenizer, target_tokenizer = tokenizers(info)
        translate = translation_graph(net, source_tokenizer, target_tokenizer, m.max_tokens,
                                      m.beam_width, m.length_penalty)
        archive = keras.export.ExportArchive()
        archive.track(net)
        archive.track(source_tokenizer)
        archive.track(target_tokenizer)
        spec = [tf.TensorSpec([None], tf.string, name="sentences")]
        archive.add_endpoint("serving_default", lambda s: {"translation": translate(s)[0]},
                             input_signature=spec)
        archive.add_endpoint("attention", attention_graph(
            net, source_tokenizer, target_tokenizer, m.max_tokens, m.beam_width,
            m.length_penalty), input_signature=spec)
        return archive

    @classmethod
    def predict_inputs(cls, manifest: dict, inputs: list[str]) -> dict[str, tf.Tensor]:
        return {"sentences": tf.constant(inputs, tf.string)}

    @classmethod
    def format_predictions(cls, manifest: dict, inputs: list[str], outputs: dict) -> str:
        translations = [t.decode("utf-8") for t in outputs["translation"].numpy()]
        return "\n".join(f"{s}\n  -> {t}" for s, t in zip(inputs, translations))


def tokenizers(protos: DataInfo | dict):
    """Freshly loaded source and target tokenizers (see `model.load_tokenizer`)."""
    protos = protos.extra if isinstance(protos, DataInfo) else protos
    return (model.load_tokenizer(protos["source_proto"], "source_tokenizer"),
            model.load_tokenizer(protos["target_proto"], "target_tokenizer"))


def translation_graph(net, source_tokenizer, target_tokenizer, max_tokens: int,
                      beam_width: int, length_penalty: float):
    """`sentences -> (translations, output ids, source ids)` as TensorFlow ops.

    Tokenizes (truncating at `max_tokens` pieces), encodes, searches (greedy at beam width
    1, else beam search) and detokenizes. A sentence with no pieces (blank, or only
    characters the normaliser removes) translates to "".
    """

    def translate(sentences):
        pieces = source_tokenizer.tokenize(sentences)[:, :max_tokens]
        blank = tf.equal(pieces.row_lengths(), 0)
        ids = pieces.to_tensor(PAD)
        width = tf.shape(ids)[1]
        ids = tf.pad(ids, [[0, 0], [0, tf.maximum(width, 1) - width]])
        # A blank row reads one end token instead: a fully masked row is an error for
        # the cuDNN LSTM on a GPU. Its translation is replaced by "" below.
        first = tf.range(tf.shape(ids)[1]) == 0
        ids = tf.where(blank[:, None] & first[None, :], EOS, ids)
        memory, mask, state = net.encode(ids)
        fixed = {"memory": memory, "mask": mask}
        if beam_width == 1:
            tokens = decoding.greedy_search(net.step, state, fixed, BOS, EOS, max_tokens)
        else:
            tokens, _ = decoding.beam_search(net.step, state, fixed, BOS, EOS, max_tokens,
                                             beam_width, length_penalty)
        tokens = decoding.trim(tokens, EOS)
        text = target_tokenizer.detokenize(tokens)
        return tf.where(blank, tf.constant(""), text), tokens, ids

    return translate


def attention_graph(net, source_tokenizer, target_tokenizer, max_tokens: int,
                    beam_width: int, length_penalty: float):
    """`sentences -> {translation, source_pieces, output_pieces, weights}` as TF ops.

    `weights[i, t, s]` is how much output piece `t` of sentence `i` (its end token
    included) attended to source piece `s`; pieces are padded with "".
    """
    translate = translation_graph(net, source_tokenizer, target_tokenizer, max_tokens,
                                  beam_width, length_penalty)

    def attention(sentences):
        text, tokens, ids = translate(sentences)
        n = tokens.nrows()
        with_end = tf.concat([tokens, tf.fill([n, 1], EOS)], axis=1)
        target_in = tf.concat([tf.fill([n, 1], BOS), tokens], axis=1).to_tensor(PAD)
        memory, mask, state = net.encode(ids)
        _, weights, _ = net.decode(target_in, memory, mask, state)
        if weights is None:
            weights = tf.zeros([n, tf.shape(target_in)[1], tf.shape(ids)[1]])
        pieces = tf.where(ids == PAD, tf.constant(""), source_tokenizer.id_to_string(ids))
        return {"translation": text, "source_pieces": pieces,
                "output_pieces": target_tokenizer.id_to_string(with_end).to_tensor(""),
                "weights": tf.cast(weights, tf.float32)}

    return attention


def _bleu(hypotheses, references) -> float:
    return sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score


def bleu_by_length(sources, references, systems: dict[str, list[str]]) -> list[dict]:
    """Corpus BLEU per source-length bucket (in words) for each system; NaN when empty."""
    lengths = np.array([len(s.split()) for s in sources])
    rows = []
    for low, high in LENGTH_BUCKETS:
        idx = np.flatnonzero((lengths >= low) & (lengths <= high))
        if not len(idx) and low > lengths.max(initial=0):
            break
        label = f"{low}-{high}" if high < 10_000 else f"{low}+"
        row = {"bucket": label, "sentences": int(len(idx))}
        for name, hypotheses in systems.items():
            row[name] = (_bleu([hypotheses[i] for i in idx], [references[i] for i in idx])
                         if len(idx) else math.nan)
        rows.append(row)
    return rows
