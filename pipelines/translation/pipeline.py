"""The translation pipeline: English -> target language with an attention encoder-decoder,
scored with BLEU and chrF against the same model without attention."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from suite import decoding, plots
from suite.baselines import Baseline
from suite.data import DataInfo, Skipped, Splits
from suite.metrics import MaskedSparseCrossentropy
from suite.pipeline import Pipeline, say

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
        say(self.name, f"learning subword vocabularies from {len(sources)} training pairs")
        state = TranslationState(model.train_tokenizer(sources, m.source_vocabulary),
                                 model.train_tokenizer(targets, m.target_vocabulary))
        source_tokenizer, target_tokenizer = state.tokenizers()
        datasets = {}
        for name, split in parts.items():
            s, t = data.columns(split)
            datasets[name] = model.examples(model.tokenize(source_tokenizer, s),
                                            model.tokenize(target_tokenizer, t), m.max_tokens)
        digest = hashlib.sha256()
        for name in ("train", "val", "test"):
            for s, t in parts[name]:
                digest.update(f"{name}\t{s}\t{t}\n".encode())
        self.pairs = parts
        info = DataInfo(
            fingerprint=digest.hexdigest()[:16],
            sizes={name: len(split) for name, split in parts.items()},
            source=source, skipped=list(skipped.items), state=state,
        )
        return Splits(datasets["train"], datasets["val"], datasets["test"], info)

    def build_model(self, info: DataInfo, attention: str | None = "config") -> keras.Model:
        m = self.config.model
        net = model.Translator(
            *info.state.vocabulary_sizes,
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

    # --- baselines, evaluation ----------------------------------------------------------

    def baselines(self) -> list[Baseline]:
        shared = tuple(f"model.{k}" for k in (
            "source_vocabulary", "target_vocabulary", "max_tokens", "embedding_dim",
            "encoder_units", "encoder_depth", "decoder_units", "dropout", "label_smoothing",
            "beam_width", "length_penalty", "bucket_width"))
        return [Baseline(
            "no_attention", fit=self._fit_no_attention, predict=self._translate_test,
            depends_on=("trainer", *shared),
            description="the same encoder-decoder reading only the encoder's final state")]

    def _fit_no_attention(self, splits: Splits, workdir) -> keras.Model:
        return self.fit_network(lambda: self.build_model(splits.info, attention=None), splits,
                                workdir, batch=self.batching(splits.info))

    def _translate_test(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        sources, _ = data.columns(self.pairs["test"])
        greedy, beam = self.translate(net, splits.info, sources,
                                      (1, self.config.model.beam_width))
        return {"greedy": np.asarray(greedy, dtype=str), "beam": np.asarray(beam, dtype=str),
                "parameters": np.asarray(net.count_params())}

    def predict(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        return self._translate_test(net, splits)

    def score(self, predictions: dict[str, np.ndarray], splits: Splits) -> dict[str, float]:
        _, references = data.columns(self.pairs["test"])
        metrics = {}
        for search, suffix in (("beam", ""), ("greedy", "_greedy")):
            hypotheses = [str(h) for h in predictions[search]]
            metrics[f"bleu{suffix}"] = _bleu(hypotheses, references)
            metrics[f"chrf{suffix}"] = sacrebleu.corpus_chrf(hypotheses,
                                                             [list(references)]).score
        return metrics

    def translate(self, net: keras.Model, info: DataInfo, sentences, beam_widths,
                  batch_size: int = 128) -> list[list[str]]:
        """Translations of `sentences` at each beam width, by the graph the export serves."""
        m = self.config.model
        source_tokenizer, target_tokenizer = info.state.tokenizers()
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
        fn = tf.function(attention_graph(net, *info.state.tokenizers(), m.max_tokens,
                                         m.beam_width, m.length_penalty))
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

    def _systems(self, predictions) -> dict[str, list[str]]:
        """Beam-search translations of the test sources by system name, for people."""
        names = {"test": "attention", "baseline_no_attention": "no attention"}
        return {names.get(k, k): [str(t) for t in p["beam"]] for k, p in predictions.items()}

    def figures(self, net: keras.Model, splits: Splits, predictions) -> dict:
        sources, references = data.columns(self.pairs["test"])
        systems = self._systems(predictions)
        by_length = bleu_by_length(sources, references, systems)
        figures = {"bleu_by_length": plots.metric_by_group(
            [row["bucket"] for row in by_length],
            {name: [row[name] for row in by_length] for name in systems},
            [row["sentences"] for row in by_length], metric="BLEU (beam search)",
            xlabel="source sentence length (words)",
            title="Test BLEU by source length: attention vs the final state only")}
        if net.attention is not None:
            for i, ex in enumerate(self._attention_examples(net, splits.info, sources)):
                figures[f"attention_{i + 1}"] = plots.attention_map(
                    ex["weights"], ex["source_pieces"], ex["output_pieces"],
                    title=f"{ex['source']}\n-> {ex['translation']}")
        return figures

    def artifacts(self, net: keras.Model, splits: Splits, predictions) -> dict[str, str]:
        sources, references = data.columns(self.pairs["test"])
        systems = self._systems(predictions)
        rows = ["| source | reference | " + " | ".join(f"{n} (beam)" for n in systems) + " |",
                "|---" * (2 + len(systems)) + "|"]
        for i in range(min(SAMPLES, len(sources))):
            cells = [sources[i], references[i], *(t[i] for t in systems.values())]
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        by_length = bleu_by_length(sources, references, systems)
        names = list(systems)
        table = ["bucket,sentences," + ",".join(f"{n.replace(' ', '_')}_bleu" for n in names)]
        table += [f"{r['bucket']},{r['sentences']}," + ",".join(f"{r[n]:.2f}" for n in names)
                  for r in by_length]
        params = "\n".join(f"{name}: {int(p['parameters']):,} parameters"
                           for name, p in zip(systems, predictions.values()))
        return {"samples.md": "\n".join(rows) + "\n", "bleu_by_length.csv": "\n".join(table) + "\n",
                "parameters.txt": params + "\n"}

    # --- export -----------------------------------------------------------------------

    def serving_example(self, splits: Splits) -> dict[str, np.ndarray]:
        sources, _ = data.columns(self.pairs["test"][:2])
        return {"sentences": sources}

    def describe(self, info: DataInfo) -> dict:
        m = self.config.model
        sentences = {"kind": "text",
                     "description": "UTF-8 English sentences; a source longer than "
                                    f"{m.max_tokens} subword pieces is truncated there"}
        return {
            "serving_default": {"inputs": {"sentences": sentences},
                                "outputs": {"translation": {
                                    "kind": "text", "description": "the translation, by "
                                                                   "beam search"}}},
            "attention": {"inputs": {"sentences": sentences},
                          "outputs": {"weights": {
                              "kind": "attention_weights",
                              "description": "weights[i, t, s]: output piece t of sentence "
                                             "i attending to source piece s"}}},
        }

    def manifest_extra(self, info: DataInfo) -> dict:
        m = self.config.model
        return {"decoding": {"beam_width": m.beam_width, "length_penalty": m.length_penalty,
                             "max_tokens": m.max_tokens}}

    def serving_model(self, net: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        m = self.config.model
        source_tokenizer, target_tokenizer = info.state.tokenizers()
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


@dataclasses.dataclass
class TranslationState:
    """The fitted preprocessing: SentencePiece models learned from the training pairs.

    Training, evaluation and the export all tokenize with tokenizers loaded from these
    same serialized models.
    """

    source_proto: bytes
    target_proto: bytes

    def tokenizers(self):
        """Freshly loaded source and target tokenizers (see `model.load_tokenizer`)."""
        return (model.load_tokenizer(self.source_proto, "source_tokenizer"),
                model.load_tokenizer(self.target_proto, "target_tokenizer"))

    @property
    def vocabulary_sizes(self) -> tuple[int, int]:
        return tuple(int(t.vocab_size()) for t in self.tokenizers())


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
