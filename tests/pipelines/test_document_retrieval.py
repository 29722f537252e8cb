"""Document retrieval: the fortunes and folder loaders, the vocabulary, the auto-encoder,
greedy pre-training, end to end with the export's search and `suite predict`."""

import mlflow
import numpy as np
import pytest
import tensorflow as tf

from pipelines.document_retrieval import data, model
from pipelines.document_retrieval.config import DocumentRetrievalConfig
from pipelines.document_retrieval.pipeline import DocumentRetrievalPipeline
from suite import export
from suite.cli import main
from suite.config import ConfigError, load_config
from suite.data import DataError, Skipped
from suite.training import Trainer
from tests.harness import assert_manifest_matches_model, predict_without_training_code

TOPICS = {
    "astronomy": "star planet orbit telescope galaxy comet moon nebula eclipse asteroid",
    "cooking": "recipe oven flour butter garlic simmer onion pepper sauce kitchen",
    "sailing": "boat harbour wind mast anchor keel tide rudder deck captain",
}
FILLER = ["the", "a", "of", "and", "it", "is", "was", "with", "for", "that", "this", "on", "very"]


def topic_folder(root, per_topic=40, seed=0):
    """A folder of label folders of short documents, each mostly words of its topic."""
    rng = np.random.default_rng(seed)
    for label, words in TOPICS.items():
        words = words.split()
        (root / label).mkdir(parents=True)
        for i in range(per_topic):
            n = int(rng.integers(8, 16))
            picked = [str(rng.choice(words)) if rng.random() < 0.6 else str(rng.choice(FILLER))
                      for _ in range(n)]
            (root / label / f"{i:03d}.txt").write_text(" ".join(picked).capitalize() + ".\n")
    return root


def test_fortune_file_edge_cases(tmp_path):
    path = tmp_path / "wisdom"
    path.write_bytes(b"First entry,\n\tindented.\n%\n%\n\n%\nB\x08Bold and _\x08u\n%\n"
                     b"Bad \xff byte here\n%\nCRLF entry\r\n%\r\nLast entry, trailing %\n%\n")
    skipped = Skipped("skip")
    entries = data.read_fortune_file(path, skipped)
    assert entries == [("First entry,\n\tindented.", 1), ("Bold and u", 7),
                       ("CRLF entry", 11), ("Last entry, trailing %", 13)]
    assert skipped.items == [f"{path}:9: entry is not UTF-8 text (byte 5)"]
    with pytest.raises(DataError, match=r"wisdom:9: entry is not UTF-8"):
        data.read_fortune_file(path, Skipped("stop"))


def test_fortune_directory_labels_by_file_and_ignores_indexes(tmp_path):
    (tmp_path / "law").write_text("One law.\n%\nTwo laws.\n")
    (tmp_path / "law.dat").write_bytes(b"\x00\x00\x00\x02")
    (tmp_path / "law.u8").symlink_to(tmp_path / "law")
    (tmp_path / "love").write_text("One love.\n%\n")
    (tmp_path / "empty").write_text("%\n%\n")
    corpus = data.read_fortunes(tmp_path, Skipped("skip"))
    assert corpus.classes == ["law", "love"]
    assert corpus.texts == ["One law.", "Two laws.", "One love."]
    assert corpus.labels.tolist() == [0, 0, 1]
    assert corpus.origins[1] == f"{tmp_path / 'law'}:3"
    with pytest.raises(DataError, match="apt-get install fortunes"):
        data.read_fortunes(tmp_path / "missing", Skipped("skip"))


def test_folder_reports_undecodable_empty_and_stray_files(tmp_path):
    root = tmp_path / "docs"
    (root / "a" / "nested").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "c").mkdir()
    (root / "a" / "1.txt").write_text("\ufeffalpha words here")
    (root / "a" / "nested" / "2.txt").write_text("more alpha")
    (root / "a" / ".hidden").write_text("ignored")
    (root / "b" / "1.txt").write_text("beta text")
    (root / "b" / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / "c" / "blank.txt").write_text("  \n\n")
    (root / "README").write_text("stray")
    skipped = Skipped("skip")
    corpus = data.read_folder(root, skipped)
    assert corpus.classes == ["a", "b"]
    assert corpus.texts == ["alpha words here", "more alpha", "beta text"]
    assert corpus.origins == ["a/1.txt", "a/nested/2.txt", "b/1.txt"]
    assert skipped.items == [
        "README: a file beside the label folders (expected only label folders)",
        "b/latin.txt: not utf-8 text (byte 4)",
        "c/blank.txt: empty document",
        "c: label folder has no readable document"]
    latin = data.read_folder(root, Skipped("skip"), encoding="latin-1")
    assert "café" in latin.texts
    with pytest.raises(DataError, match="README: a file beside the label folders"):
        data.read_folder(root, Skipped("stop"))

    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "one.txt").write_text("an unlabeled document")
    (flat / "two.md").write_text("another one")
    (flat / "zero.txt").write_bytes(b"")
    skipped = Skipped("skip")
    corpus = data.read_folder(flat, skipped)
    assert not corpus.labeled and corpus.labels.tolist() == [-1, -1]
    assert skipped.items == ["zero.txt: empty document"]
    with pytest.raises(DataError, match="is not a directory"):
        data.read_folder(tmp_path / "nope", Skipped("skip"))


def test_prepare_deduplicates_drops_short_and_picks_categories():
    corpus = data.Corpus(
        texts=["A cat sat here.", "a  CAT sat here.", "Short.", "Dogs bark at night.",
               "Birds sing in trees.", "Fish swim in water."],
        labels=np.array([0, 1, 0, 1, 2, 2], np.int32), classes=["x", "y", "z"],
        origins=[str(i) for i in range(6)])
    kept = data.prepare(corpus, min_words=2, min_per_class=1)
    assert kept.texts == ["A cat sat here.", "Dogs bark at night.", "Birds sing in trees.",
                          "Fish swim in water."]
    chosen = data.prepare(corpus, 2, 1, categories=("z", "x"))
    assert chosen.classes == ["x", "z"] and chosen.labels.tolist() == [0, 1, 1]
    with pytest.raises(DataError, match="data.categories: 'w' not in the data"):
        data.prepare(corpus, 2, 1, categories=("w", "x"))
    with pytest.raises(DataError, match="1 label\\(s\\) with at least 2 documents"):
        data.prepare(corpus, 2, 2)


def test_vocabulary_is_fitted_on_indexed_documents_only(tmp_path):
    folder = topic_folder(tmp_path / "topics")
    for path in folder.glob("*/*.txt"):  # a word of its own in every document
        path.write_text(path.read_text() + f" only{path.parent.name}{path.stem}\n")
    config = load_config(DocumentRetrievalConfig, overrides=[
        f"data.path={folder}", "data.val_fraction=0.1", "data.test_fraction=0.25",
        "model.vocabulary=500"])
    pipeline = DocumentRetrievalPipeline(config)
    splits = pipeline.load_data()
    vocabulary = splits.info.state.vocabulary

    def words(name):
        return set(" ".join(pipeline.documents[name].texts).lower().replace(".", "").split())

    held_out = (words("val") | words("test")) - words("train")
    assert len(held_out) >= 30  # the held-out documents' own words ...
    assert not held_out & set(vocabulary)  # ... are not in the vocabulary
    assert set(vocabulary) <= words("train")
    assert any(w.startswith("only") for w in vocabulary)  # training documents' own are
    assert not {"the", "and", "of"} & set(vocabulary)  # English stop words left out
    assert splits.info.state.idf.shape == (len(vocabulary),)
    assert pipeline.counts["train"].shape == (splits.info.sizes["train"], len(vocabulary))


def test_greedy_pretraining_trains_every_layer_before_fine_tuning():
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.3, size=(64, 30)).astype("float32")
    net = model.DocumentAutoEncoder(30, idf=np.full(30, 2.0, "float32"), hidden=(12, 6),
                                    code_dim=3, seed=0)
    net.build((None, 30))
    before = [w.numpy().copy() for w in net.sdae.weights]
    config = load_config(DocumentRetrievalConfig, overrides=["trainer.epochs=2",
                                                             "trainer.batch_size=16"])
    losses = model.pretrain(net, counts, Trainer(config.trainer), 2, log=lambda _: None)
    assert len(losses) == net.sdae.depth == 3 and all(np.isfinite(losses))
    changed = [not np.allclose(a, w.numpy()) for a, w in zip(before, net.sdae.weights)]
    assert all(changed)  # every encoder and decoder layer of the stack was trained
    np.testing.assert_allclose(net.word_weights.numpy(), 2.0)  # the IDF is not learned


def test_proportion_crossentropy_is_the_per_word_multinomial_likelihood():
    counts = np.array([[2.0, 0.0, 2.0], [0.0, 0.0, 0.0]], "float32")
    predicted = np.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]], "float32")
    loss = tf.convert_to_tensor(model.proportion_crossentropy(counts, predicted)).numpy()
    np.testing.assert_allclose(loss, [-(0.5 * np.log(0.5) + 0.5 * np.log(0.25)), 0.0],
                               rtol=1e-6)


def test_multinomial_nll_weighs_a_document_by_its_words():
    counts = np.array([[2.0, 0.0, 2.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], "float32")
    predicted = np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [0.2, 0.3, 0.5]], "float32")
    loss = tf.convert_to_tensor(model.multinomial_nll(counts, predicted)).numpy()
    np.testing.assert_allclose(loss, [-(2 * np.log(0.5) + 2 * np.log(0.25)),
                                      -(np.log(0.5) + np.log(0.25)), 0.0], rtol=1e-6)
    per_word = tf.convert_to_tensor(model.proportion_crossentropy(counts, predicted)).numpy()
    np.testing.assert_allclose(loss[:2], per_word[:2] * [4.0, 2.0], rtol=1e-6)


def test_neighbour_targets_add_the_nearest_documents_words_and_never_the_document_itself():
    counts = np.array([[3, 1, 0, 0],    # 0: nearest to 1
                       [2, 2, 0, 0],    # 1: nearest to 0
                       [0, 0, 2, 2],    # 2 and 3 are duplicates: each other's nearest
                       [0, 0, 2, 2],
                       [0, 0, 0, 0]],   # no vocabulary word: nothing is added
                      "float32")
    idf = np.ones(4, "float32")
    targets = model.neighbour_targets(counts, idf, k=1, weight=0.5)
    np.testing.assert_allclose(targets[0], counts[0] + 0.5 * 4 * np.array([0.5, 0.5, 0, 0]))
    np.testing.assert_allclose(targets[1], counts[1] + 0.5 * 4 * np.array([0.75, 0.25, 0, 0]))
    np.testing.assert_allclose(targets[2], counts[2] * 1.5)
    np.testing.assert_allclose(targets[4], 0.0)
    np.testing.assert_array_equal(model.neighbour_targets(counts, idf, k=0, weight=1.0), counts)
    # a query's neighbours come from the index, itself not being in it
    query = np.array([[0, 0, 1, 3]], "float32")
    np.testing.assert_allclose(
        model.neighbour_targets(query, idf, k=1, weight=1.0, index=counts[1:4]),
        query + 4 * np.array([[0, 0, 0.5, 0.5]]))
    assert model.neighbour_targets(counts, idf, k=10, weight=1.0).shape == counts.shape


TINY = ["--set", "trainer.epochs=2", "--set", "model.hidden=32,16", "--set",
        "model.pretrain_epochs=1", "--set", "figures.tsne_points=40", "--set",
        "data.val_fraction=0.1", "--set", "model.top_k=3"]


def test_end_to_end_search_through_the_export_and_suite_predict(workdir, capsys):
    folder = topic_folder(workdir / "topics")
    (folder / "cooking" / "bad.txt").write_bytes(b"caf\xe9 au lait")
    (folder / "sailing" / "empty.txt").write_text("\n")
    config = load_config(DocumentRetrievalConfig, overrides=[
        f"data.path={folder}", *TINY[1::2]])
    pipeline = DocumentRetrievalPipeline(config)
    result = pipeline.run()
    assert result.tracking_errors == []
    version = workdir / "saved_models" / "document-retrieval" / "1"
    assert workdir / result.export_dir == version
    manifest = export.read_manifest(version)
    assert manifest["labels"] == ["astronomy", "cooking", "sailing"]
    assert manifest["config"]["data"]["min_per_category"] == 2
    assert set(manifest["metrics"]) == {
        f"{prefix}_{metric}" for prefix in ("test", "baseline_lsa", "baseline_tfidf")
        for metric in ("precision_at_1", "precision_at_10", "precision_at_50", "map")}
    assert manifest["metrics"]["baseline_tfidf_precision_at_10"] > 0.8  # separable topics
    assert set(manifest["signatures"]) == {"serving_default", "search", "encode"}
    assert manifest["search"]["indexed_documents"] == pipeline.splits.info.sizes["train"]
    assert_manifest_matches_model(version)

    run = mlflow.search_runs(experiment_names=["document-retrieval"]).iloc[0]
    assert run["status"] == "FINISHED" and run["tags.data_skipped"] == "2"
    assert len(pipeline.history["val_precision_at_10"]) == len(pipeline.epochs)
    history = mlflow.MlflowClient().get_metric_history(run["run_id"], "val_precision_at_10")
    assert len(history) == len(pipeline.epochs)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"],
                                                                      "figures")}
    assert {"figures/pr_curves.png", "figures/maps.png",
            "figures/validation_precision.png"} <= artifacts
    skipped = mlflow.artifacts.load_text(f"runs:/{run['run_id']}/reports/skipped_inputs.txt")
    assert "cooking/bad.txt: not utf-8 text" in skipped and "sailing/empty.txt" in skipped

    # The exported search ranks the test documents exactly as evaluation did.
    loaded = tf.saved_model.load(str(version))
    test_texts = pipeline.documents["test"].texts
    found = loaded.signatures["search"](queries=tf.constant(test_texts), k=tf.constant(5))
    np.testing.assert_array_equal(found["ids"].numpy(),
                                  pipeline.predictions["test"]["top_ids"][:, :5])
    train = pipeline.documents["train"]
    labels = [[train.classes[train.labels[i]] for i in row] for row in found["ids"].numpy()]
    assert [[b.decode() for b in row] for row in found["labels"].numpy()] == labels
    codes = loaded.signatures["encode"](queries=tf.constant(test_texts))
    np.testing.assert_allclose(codes["code"].numpy(), pipeline.predictions["test"]["codes"],
                               rtol=1e-4, atol=1e-5)
    assert codes["map"].shape == (len(test_texts), 2)
    default = loaded.signatures["serving_default"](
        queries=tf.constant(["telescope galaxy comet orbit", "qwerty"]))
    assert default["ids"].shape == (2, 3)
    assert default["known_words"].numpy().tolist() == [4, 0]
    huge = loaded.signatures["search"](queries=tf.constant(["boat"]), k=tf.constant(10**6))
    assert huge["ids"].shape == (1, len(train.texts))

    capsys.readouterr()
    assert main(["predict", "document-retrieval", "telescope galaxy comet orbit", "qwerty"]) == 0
    printed = capsys.readouterr().out
    blocks = printed.split("\n\n")
    assert blocks[0].splitlines()[1] == "query: telescope galaxy comet orbit"
    first = [b.decode() for b in default["labels"].numpy()[0]]
    assert [line.split("[")[1].split("]")[0] for line in blocks[0].splitlines()
            if "[" in line] == first
    assert "none of its words is in the model's vocabulary" in blocks[1]
    isolated = predict_without_training_code("document-retrieval",
                                             "telescope galaxy comet orbit", "qwerty",
                                             cwd=workdir)
    assert isolated.returncode == 0, isolated.stderr
    assert isolated.stdout.splitlines()[1:] == printed.splitlines()[1:]


def test_a_flat_folder_searches_without_labels(workdir, capsys):
    flat = workdir / "flat"
    flat.mkdir()
    for path in topic_folder(workdir / "topics", per_topic=15).glob("*/*.txt"):
        (flat / f"{path.parent.name}-{path.name}").write_text(path.read_text())
    assert main(["run", "document-retrieval", "--data", str(flat), *TINY]) == 0
    captured = capsys.readouterr()
    assert "the documents have no labels" in captured.err
    manifest = export.read_manifest(workdir / "saved_models" / "document-retrieval" / "1")
    assert manifest["labels"] == []
    assert set(manifest["metrics"]) == {"test_overlap_with_tfidf_at_10",
                                        "baseline_lsa_overlap_with_tfidf_at_10",
                                        "baseline_tfidf_overlap_with_tfidf_at_10"}
    assert manifest["metrics"]["baseline_tfidf_overlap_with_tfidf_at_10"] == 1.0
    out = tf.saved_model.load(str(workdir / "saved_models" / "document-retrieval" / "1")) \
        .signatures["serving_default"](queries=tf.constant(["anchor"]))
    assert out["labels"].numpy().tolist() == [[b"", b"", b""]]


@pytest.mark.parametrize("override, message", [
    ("model.corruption=salt", "config key 'model.corruption': got 'salt', expected one of"),
    ("model.corruption_rate=1.5", "config key 'model.corruption_rate': got 1.5"),
    ("data.encoding=klingon", "config key 'data.encoding': got 'klingon'"),
    ("data.categories=law", "config key 'data.categories': got ('law',), expected two"),
    ("model.code_dim=0", "config key 'model.code_dim': got 0, expected a value >= 1"),
])
def test_bad_config_values_are_named(override, message, workdir, capsys):
    assert main(["run", "document-retrieval", "--set", override]) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "saved_models").exists()
    with pytest.raises(ConfigError):
        load_config(DocumentRetrievalConfig, overrides=[override])


def test_unknown_category_and_missing_folder_stop_before_training(workdir, capsys):
    folder = topic_folder(workdir / "topics", per_topic=5)
    assert main(["run", "document-retrieval", "--data", str(folder),
                 "--set", "data.categories=cooking,knitting"]) == 2
    assert "data.categories: 'knitting' not in the data" in capsys.readouterr().err
    assert main(["run", "document-retrieval", "--data", str(workdir / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_map_frames_the_bulk_of_the_points_and_counts_the_outliers():
    from pipelines.document_retrieval import plots

    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(size=(300, 2)), [[80.0, -90.0]]])
    labels = np.zeros(len(points), int)
    figure = plots.maps({"codes": points}, labels, ["a"], "map")
    ax = figure.axes[0]
    assert ax.get_xlim()[1] < 10 and ax.get_ylim()[0] > -10  # the outlier is not framed
    outside = int(ax.get_title().split("(")[1].split()[0])  # the outlier and a few tails
    assert 1 <= outside <= 10 and "outlying points beyond the frame" in ax.get_title()
    plain = plots.maps({"codes": points[:300]}, labels[:300], ["a"], "map").axes[0]
    assert plain.get_title() == "codes"  # no outliers: the full view, nothing said
