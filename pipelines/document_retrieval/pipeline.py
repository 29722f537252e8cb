"""The document-retrieval pipeline: stacked denoising auto-encoder codes searched by cosine
similarity, against LSA and TF-IDF, with an export that holds its own search index."""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf

from pipelines.document_retrieval import data, model, plots
from pipelines.document_retrieval.config import (
    FOLDER_MIN_PER_CATEGORY,
    FORTUNES_MIN_PER_CATEGORY,
    DocumentRetrievalConfig,
)
from suite.baselines import Baseline
from suite.data import DataInfo, Skipped, Splits, stratified_split
from suite.metrics import retrieval
from suite.pipeline import Pipeline, say
from suite.training import Trainer

K = 50                 # neighbours kept per query: precision@1/10/50
EXAMPLES = 5           # test queries shown with their results in search_examples.md


class DocumentRetrievalPipeline(Pipeline):
    """Searches documents by stacked denoising auto-encoder codes; fortunes or a text folder.

    The codes are those of each document's bag of words; the embedded corpus is the
    fortunes files, `--data` reads a folder of label folders (or of unlabeled files)."""

    name = "document-retrieval"
    config_cls = DocumentRetrievalConfig
    main_metric = "precision_at_10"
    monitor = "val_precision_at_10"
    monitor_mode = "max"
    pretrain_seconds = 0.0  # how long greedy pre-training took in this run (0: none)

    # --- data and model -----------------------------------------------------------------

    def load_data(self) -> Splits:
        cfg, m = self.config.data, self.config.model
        skipped = Skipped(cfg.on_error)
        if cfg.path is None:
            corpus = data.read_fortunes(cfg.fortunes_dir, skipped)
            source = f"embedded: fortunes ({cfg.fortunes_dir})"
        else:
            corpus = data.read_folder(cfg.path, skipped, cfg.encoding)
            source = f"folder: {cfg.path}"
        if cfg.min_per_category is None:
            cfg.min_per_category = (FORTUNES_MIN_PER_CATEGORY if cfg.path is None
                                    else FOLDER_MIN_PER_CATEGORY)
        corpus = data.prepare(corpus, cfg.min_words, cfg.min_per_category, cfg.categories)
        if not corpus.labeled:
            say(self.name, "the documents have no labels (a flat folder): search works, "
                           "label-based metrics (precision@k, MAP) and the per-epoch "
                           "validation precision are skipped")
        idx = stratified_split(corpus.labels, cfg.val_fraction, cfg.test_fraction, cfg.seed,
                               cfg.limit)
        self.documents = {name: corpus.subset(i) for name, i in idx.items()}

        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop_words = ENGLISH_STOP_WORDS if m.stop_words == "english" else ()
        vocabulary = model.fit_vocabulary(self.documents["train"].texts, m.vocabulary,
                                          stop_words)
        bag = model.vectorizer(vocabulary)
        self.counts = {name: self._count(bag, docs.texts)
                       for name, docs in self.documents.items()}
        state = model.RetrievalState(vocabulary,
                                     model.inverse_document_frequency(self.counts["train"]))
        info = DataInfo(
            fingerprint=corpus.fingerprint(),
            sizes={name: len(i) for name, i in idx.items()},
            classes=list(corpus.classes), source=source, skipped=list(skipped.items),
            state=state)

        names = ("reconstruction", "map") if m.map_head else ("reconstruction",)
        self.targets = dict(self.counts)
        if m.neighbours and m.neighbour_weight:  # validation and test losses alike
            for name, counts in self.counts.items():
                self.targets[name] = model.neighbour_targets(
                    counts, state.idf, m.neighbours, m.neighbour_weight,
                    index=None if name == "train" else self.counts["train"])

        def targets(counts, words):
            return counts, {name: words for name in names}

        datasets = {name: tf.data.Dataset.from_tensor_slices((c, self.targets[name]))
                    for name, c in self.counts.items()}
        return Splits(datasets["train"], datasets["val"], datasets["test"], info,
                      decode=targets)

    @staticmethod
    def _count(bag, texts, batch: int = 1024) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, bag.vocabulary_size() - 1), np.float32)
        return np.concatenate([model.word_counts(bag, tf.constant(texts[i:i + batch])).numpy()
                               for i in range(0, len(texts), batch)])

    @property
    def labeled(self) -> bool:
        return self.documents["train"].labeled

    def build_model(self, info: DataInfo) -> keras.Model:
        m = self.config.model
        net = model.DocumentAutoEncoder(
            len(info.state.vocabulary), idf=info.state.idf, input=m.input, hidden=m.hidden,
            code_dim=m.code_dim, activation=m.activation, corruption=m.corruption,
            corruption_rate=m.corruption_rate, code_noise=m.code_noise, map_head=m.map_head,
            seed=self.config.trainer.seed, name="document_auto_encoder")
        net.build((None, len(info.state.vocabulary)))
        checkpoint = self.checkpoint(info)
        restorable = self.config.trainer.resume and (checkpoint.trained
                                                     or checkpoint.backup_dir.is_dir())
        if m.pretrain_epochs and not restorable:
            self.pretrain(net)
        losses = {"reconstruction": model.LOSSES[m.loss]}
        if m.map_head:
            losses["map"] = model.LOSSES[m.loss]
        return self.trainer.compile(net, loss=losses)

    def pretrain(self, net: model.DocumentAutoEncoder) -> list[float]:
        """Greedy layer-wise pre-training (`model.pretrain`) with the run's optimizer and
        batch size, `model.pretrain_epochs` epochs per layer."""
        epochs = self.config.model.pretrain_epochs
        say(self.name, f"greedy layer-wise pre-training: {net.sdae.depth} layers, "
                       f"{epochs} epoch(s) each")
        config = dataclasses.replace(self.config.trainer, epochs=epochs,
                                     early_stopping_patience=0, reduce_lr_patience=0)
        start = time.perf_counter()
        losses = model.pretrain(net, self.counts["train"], Trainer(config), epochs,
                                log=lambda line: say(self.name, "  " + line),
                                loss=model.LOSSES[self.config.model.loss],
                                targets=self.targets["train"])
        self.pretrain_seconds = time.perf_counter() - start
        return losses

    def monitor_for(self, info: DataInfo) -> tuple[str, str]:
        """The validation precision@10 when there are labels and validation queries, else
        the validation loss (a flat folder, or `model.validation_queries=0`)."""
        if info.classes and info.sizes.get("val") and self.config.model.validation_queries:
            return self.monitor, self.monitor_mode
        return "val_loss", "min"

    def callbacks(self, info: DataInfo, splits: Splits) -> list[keras.callbacks.Callback]:
        n = self.config.model.validation_queries
        if self.monitor_for(info)[0] != "val_precision_at_10":
            return []
        rng = np.random.default_rng(self.config.data.seed)
        pick = np.sort(rng.permutation(len(self.counts["val"]))[:n])
        return [ValidationPrecision(self.counts["train"], self.documents["train"].labels,
                                    self.counts["val"][pick],
                                    self.documents["val"].labels[pick])]

    # --- baselines, evaluation ----------------------------------------------------------

    def baselines(self) -> list[Baseline]:
        vocabulary = ("model.vocabulary", "model.stop_words")
        return [
            Baseline("tfidf", fit=self._fit_tfidf, predict=self._predict_tfidf,
                     depends_on=vocabulary,
                     description="cosine similarity of the full-vocabulary TF-IDF "
                                 "vectors"),
            Baseline("lsa", fit=self._fit_lsa, predict=self._predict_lsa,
                     depends_on=(*vocabulary, "model.code_dim", "trainer.seed"),
                     description=f"TF-IDF reduced to {self.config.model.code_dim} "
                                 "dimensions by truncated SVD (LSA), cosine similarity"),
        ]

    def _fit_tfidf(self, splits: Splits, workdir):
        from sklearn.feature_extraction.text import TfidfTransformer

        return TfidfTransformer(sublinear_tf=True).fit(self.counts["train"])

    def _predict_tfidf(self, tfidf, splits: Splits) -> dict[str, np.ndarray]:
        return self._rank(tfidf.transform(self.counts["test"]).toarray(),
                          tfidf.transform(self.counts["train"]).toarray())

    def _fit_lsa(self, splits: Splits, workdir):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.pipeline import make_pipeline

        tfidf = self._fit_tfidf(splits, workdir)
        svd = TruncatedSVD(self.config.model.code_dim, random_state=self.config.trainer.seed)
        return make_pipeline(tfidf, svd).fit(self.counts["train"])

    def _predict_lsa(self, lsa, splits: Splits) -> dict[str, np.ndarray]:
        return self._rank(lsa.transform(self.counts["test"]), lsa.transform(self.counts["train"]))

    def _rank(self, queries, index) -> dict[str, np.ndarray]:
        if self.labeled:
            return retrieval.rank(queries, index, self.documents["test"].labels,
                                  self.documents["train"].labels, k=K)
        return retrieval.rank(queries, index, k=K)

    def encode(self, net, counts: np.ndarray, batch: int = 2048) -> np.ndarray:
        """Search codes of word counts, in batches."""
        return np.concatenate([keras.ops.convert_to_numpy(net.encode(counts[i:i + batch]))
                               for i in range(0, len(counts), batch)]) if len(counts) else \
            np.zeros((0, net.code_dim), np.float32)

    def predict(self, net, splits: Splits) -> dict[str, np.ndarray]:
        queries = self.encode(net, self.counts["test"])
        ranked = self._rank(queries, self.encode(net, self.counts["train"]))
        ranked["codes"] = queries
        if net.map_head:
            ranked["map"] = keras.ops.convert_to_numpy(net.map(self.counts["test"]))
        return ranked

    def score(self, predictions: dict[str, np.ndarray], splits: Splits) -> dict[str, float]:
        if "relevant" in predictions:
            return retrieval.summarize(predictions, ks=(1, 10, K))
        # Unlabeled: how much of each query's full TF-IDF neighbourhood the method keeps.
        reference = self._tfidf_neighbours()
        top = predictions["top_ids"][:, :10]
        overlap = [len(set(a) & set(b)) / top.shape[1] for a, b in zip(top, reference)]
        return {"overlap_with_tfidf_at_10": float(np.mean(overlap))}

    def _tfidf_neighbours(self) -> np.ndarray:
        if getattr(self, "_reference", None) is None:
            tfidf = self._fit_tfidf(self.splits, None)
            self._reference = self._predict_tfidf(tfidf, self.splits)["top_ids"][:, :10]
        return self._reference

    # --- figures, artifacts -------------------------------------------------------------

    def _systems(self, predictions) -> dict[str, dict]:
        code_dim = self.config.model.code_dim
        names = {"test": f"auto-encoder {code_dim}-D", "baseline_lsa": f"LSA {code_dim}-D",
                 "baseline_tfidf": f"TF-IDF {self.config.model.vocabulary}-D"}
        return {names.get(k, k): p for k, p in predictions.items()}

    def figures(self, net, splits: Splits, predictions) -> dict:
        figures = {}
        systems = self._systems(predictions)
        if self.labeled:
            figures["pr_curves"] = plots.pr_curves(
                {name: retrieval.pr_curve(p) for name, p in systems.items()},
                f"Held-out queries ({len(self.counts['test']):,}) against the index "
                f"({len(self.counts['train']):,})")
        figures["maps"] = self._maps(predictions["test"])
        if "val_precision_at_10" in self.history:
            figures["validation_precision"] = plots.validation_precision(
                self.history["val_precision_at_10"], self.epochs)
        return figures

    def _maps(self, test: dict[str, np.ndarray]):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.manifold import TSNE
        from sklearn.pipeline import make_pipeline

        seed = self.config.trainer.seed
        count = len(test["codes"])
        pick = np.sort(np.random.default_rng(seed).permutation(count)[
            :self.config.figures.tsne_points])
        panels = {}
        perplexity = float(min(30, max(2, (len(pick) - 1) // 3)))
        panels[f"t-SNE of the {self.config.model.code_dim}-D auto-encoder codes"] = TSNE(
            2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            retrieval.unit_rows(test["codes"][pick]))
        if "map" in test:
            panels["2-D auto-encoder map code"] = test["map"][pick]
        lsa = make_pipeline(self._fit_tfidf(self.splits, None),
                            TruncatedSVD(2, random_state=seed)).fit(self.counts["train"])
        panels["2-D LSA"] = lsa.transform(self.counts["test"][pick])
        labels = self.documents["test"].labels[pick]
        return plots.maps(panels, labels, self.documents["test"].classes,
                          f"{len(pick):,} held-out query documents")

    def artifacts(self, net, splits: Splits, predictions) -> dict[str, str]:
        out = {}
        systems = self._systems(predictions)
        if self.labeled:
            rows = ["recall," + ",".join(n.replace(",", " ") for n in systems)]
            curves = [retrieval.pr_curve(p) for p in systems.values()]
            for i, level in enumerate(retrieval.RECALL_LEVELS):
                rows.append(f"{level:g}," + ",".join(f"{c[i][1]:.4f}" for c in curves))
            out["pr_curve.csv"] = "\n".join(rows) + "\n"
        test, train = self.documents["test"], self.documents["train"]
        lines = []
        for q in range(min(EXAMPLES, len(test.texts))):
            label = f" [{test.classes[test.labels[q]]}]" if self.labeled else ""
            lines.append(f"## query{label}: {model.snippet(test.texts[q], 200)}\n")
            for name, p in systems.items():
                lines.append(f"{name}:\n")
                for r, (i, s) in enumerate(zip(p["top_ids"][q, :5], p["top_scores"][q, :5])):
                    hit = f" [{train.classes[train.labels[i]]}]" if self.labeled else ""
                    lines.append(f"{r + 1}. {s:.3f}{hit} {model.snippet(train.texts[i], 120)}")
                lines.append("")
        out["search_examples.md"] = "\n".join(lines) + "\n"
        return out

    # --- export -------------------------------------------------------------------------

    def serving_example(self, splits: Splits) -> dict[str, np.ndarray]:
        return {"queries": np.array(self.documents["test"].texts[:2], dtype=object)}

    def describe(self, info: DataInfo) -> dict:
        m = self.config.model
        queries = {"kind": "text", "description": "UTF-8 query texts; lower-cased, "
                                                  "punctuation stripped, words counted over "
                                                  f"the {len(info.state.vocabulary)}-word "
                                                  "vocabulary inside the model"}
        results = {
            "ids": {"kind": "document_ids", "description": "indexed document numbers, best "
                                                           "first"},
            "scores": {"kind": "similarity_scores", "description": "cosine similarity of "
                                                                   "the codes"},
            "labels": {"kind": "document_labels", "description": "each result's label "
                                                                 "('' when unlabeled)"},
            "sources": {"kind": "document_sources", "description": "each result's file "
                                                                   "(and line)"},
            "snippets": {"kind": "document_snippets",
                         "description": f"each result's first {m.snippet_chars} characters"},
            "known_words": {"kind": "word_count", "description": "the query's words in the "
                                                                 "vocabulary (0: no basis "
                                                                 "for a search)"},
        }
        encode_outputs = {"code": {"kind": "code_vector",
                                   "description": f"the {m.code_dim}-D search code"},
                          "known_words": results["known_words"]}
        if m.map_head:
            encode_outputs["map"] = {"kind": "map_coordinates",
                                     "description": "the 2-D map code"}
        return {
            "serving_default": {"inputs": {"queries": queries}, "outputs": results},
            "search": {"inputs": {"queries": queries,
                                  "k": {"kind": "count", "description": "results per query "
                                                                        "(clipped to the "
                                                                        "index size)"}},
                       "outputs": results},
            "encode": {"inputs": {"queries": queries}, "outputs": encode_outputs},
        }

    def manifest_extra(self, info: DataInfo) -> dict:
        m = self.config.model
        return {"search": {"top_k": m.top_k, "indexed_documents": len(self.counts["train"]),
                           "code_dim": m.code_dim, "similarity": "cosine",
                           "vocabulary_size": len(info.state.vocabulary)}}

    def serving_model(self, net, info: DataInfo) -> keras.export.ExportArchive:
        m = self.config.model
        train = self.documents["train"]
        bag = info.state.vectorizer()
        bag(tf.constant([""]))
        index = model.SearchIndex(
            self.encode(net, self.counts["train"]),
            [train.classes[i] if i >= 0 else "" for i in train.labels], train.origins,
            [model.snippet(t, m.snippet_chars) for t in train.texts])
        search = model.search_graph(net, bag, index)

        def encode(queries):
            counts = model.word_counts(bag, queries)
            out = {"code": tf.cast(net.encode(counts, training=False), tf.float32),
                   "known_words": tf.cast(tf.reduce_sum(counts, axis=1), tf.int32)}
            if m.map_head:
                out["map"] = tf.cast(net.map(counts), tf.float32)
            return out

        archive = keras.export.ExportArchive()
        archive.track(net)
        archive.track(bag)
        archive.track(index)
        queries = tf.TensorSpec([None], tf.string, name="queries")
        archive.add_endpoint("serving_default", lambda q: search(q, m.top_k),
                             input_signature=[queries])
        archive.add_endpoint("search", search,
                             input_signature=[queries, tf.TensorSpec([], tf.int32, name="k")])
        archive.add_endpoint("encode", encode, input_signature=[queries])
        return archive


class ValidationPrecision(keras.callbacks.Callback):
    """Puts `val_precision_at_10` in the logs after each epoch: validation documents
    searched by their codes against the codes of the indexed (training) documents.

    Args:
        index_counts, index_labels: the indexed documents' word counts and labels.
        query_counts, query_labels: the validation queries'.
    """

    def __init__(self, index_counts, index_labels, query_counts, query_labels):
        super().__init__()
        self.index_counts, self.index_labels = index_counts, index_labels
        self.query_counts, self.query_labels = query_counts, query_labels

    def _codes(self, counts, batch: int = 4096) -> np.ndarray:
        return np.concatenate([keras.ops.convert_to_numpy(self.model.encode(counts[i:i + batch]))
                               for i in range(0, len(counts), batch)])

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not len(self.query_counts):
            return
        ids, _ = retrieval.cosine_top_k(self._codes(self.query_counts),
                                        self._codes(self.index_counts), 10)
        relevant = self.index_labels[ids] == self.query_labels[:, None]
        logs["val_precision_at_10"] = float(retrieval.precision_at_k(relevant, 10).mean())
