"""Translation: the gettext and TSV loaders, splits, tokenizers, the model, end to end."""

import itertools
import struct

import numpy as np
import pytest
import sacrebleu
import tensorflow as tf

import mlflow
from pipelines.translation import data, model
from pipelines.translation.config import TranslationConfig
from pipelines.translation.pipeline import TranslationPipeline, bleu_by_length
from suite import decoding, export
from suite.cli import main
from suite.config import load_config
from suite.data import DataError, Skipped
from tests.harness import assert_manifest_matches_model, predict_without_training_code


def write_mo(path, entries: dict[str, str], encoding: str = "utf-8"):
    """A GNU .mo catalog of `msgid -> msgstr` (plural and context keys as gettext stores
    them: `singular\\0plural` and `context\\x04msgid`), the translations in `encoding`."""
    entries = {"": "Content-Type: text/plain; charset=UTF-8\n", **entries}
    keys = sorted(entries)
    ids = [k.encode() for k in keys]
    strs = [entries[k].encode(encoding) for k in keys]
    n = len(keys)
    start = 7 * 4 + 16 * n
    offsets, blob = [], b""
    for s in ids + strs:
        offsets.append((len(s), start + len(blob)))
        blob += s + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    tables = b"".join(struct.pack("<2I", *o) for o in offsets)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + tables + blob)


def test_catalog_pairs_leave_out_header_plural_context_and_untranslated(tmp_path):
    folder = tmp_path / "locale" / "xx" / "LC_MESSAGES"
    write_mo(folder / "one.mo", {
        "Cannot open file %s": "No se puede abrir el archivo %s",
        "%d file\0%d files": "%d archivo\0%d archivos",
        "menu\x04Open": "Abrir",
        "Untranslated": "",
        "Hello, %(name)s!\n": "¡Hola, %(name)s!\n",
    })
    write_mo(folder / "two.mo", {"Cannot open file %s": "No se pudo abrir el fichero %s"})
    (folder / "broken.mo").write_bytes(b"not a catalog at all")
    (folder / "short.mo").write_bytes(b"\xde\x12")
    write_mo(folder / "charset.mo", {"": "Content-Type: text/plain; charset=NO-SUCH\n",
                                     "Yes": "Si"})  # an unknown charset name, UTF-8 text
    write_mo(folder / "latin1.mo", {"Yes": "Sí"}, encoding="latin-1")  # says UTF-8, is not
    skipped = Skipped("skip")
    pairs = data.read_catalogs(tmp_path / "locale", "xx", skipped)
    assert sorted(pairs) == [("Cannot open file %s", "No se pudo abrir el fichero %s"),
                             ("Cannot open file %s", "No se puede abrir el archivo %s"),
                             ("Hello, %(name)s!\n", "¡Hola, %(name)s!\n"),
                             ("Untranslated", ""), ("Yes", "Si")]
    assert [item.split(": ")[0].rsplit("/", 1)[1] for item in skipped.items] == [
        "broken.mo", "latin1.mo", "short.mo"]
    cleaned = data.clean(pairs, 1, 30)
    assert ("Hello, %(name)s!", "¡Hola, %(name)s!") in cleaned and len(cleaned) == 4
    with pytest.raises(DataError, match="broken.mo: not a readable gettext catalog"):
        data.read_catalogs(tmp_path / "locale", "xx", Skipped("stop"))
    with pytest.raises(DataError, match="no gettext catalogs"):
        data.read_catalogs(tmp_path / "locale", "zz", Skipped("skip"))


def test_tsv_reports_malformed_lines_and_ignores_extra_columns(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes("\ufeffGo.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org\n"
                     "no tab here\n\nHi.\tHola.\n\tsource missing\n".encode())
    skipped = Skipped("skip")
    assert data.read_tsv(path, skipped) == [("Go.", "Ve."), ("Hi.", "Hola.")]
    assert [item.split(": ")[0] for item in skipped.items] == [f"{path}:2", f"{path}:5"]
    with pytest.raises(DataError, match=r"pairs.tsv:2: expected source<TAB>target"):
        data.read_tsv(path, Skipped("stop"))


def test_tsv_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("Go.\tVe.\nCafé.\tCafé.\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.tsv:2: not UTF-8"):
        data.read_tsv(path, Skipped("skip"))
    with pytest.raises(DataError, match="cannot read"):
        data.read_tsv(tmp_path / "missing.tsv", Skipped("skip"))
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no source<TAB>target lines"):
        data.read_tsv(empty, Skipped("skip"))


def test_clean_normalises_deduplicates_and_filters_by_length():
    pairs = [("  Open\n  file ", "Abrir\tarchivo"), ("Open file", "Abrir archivo"),
             ("one two three four", "uno dos tres cuatro"), ("x", " ")]
    assert data.clean(pairs, 1, 3) == [("Open file", "Abrir archivo")]


def test_split_treats_accelerator_and_punctuation_variants_as_one_sentence():
    variants = [("Save _As...", "Guardar _como..."), ("Save as", "Guardar como"),
                ("&Save as:", "&Guardar como:")]
    pairs = variants + [(f"sentence {i}", f"frase {i}") for i in range(40)]
    for seed in range(5):
        parts = data.split_by_source(pairs, 0.2, 0.2, seed=seed)
        homes = {name for name, split in parts.items() for pair in split if pair in variants}
        assert len(homes) == 1


def test_split_keeps_each_source_in_one_split():
    pairs = [(f"sentence {i}", f"frase {i} {v}") for i in range(200) for v in range(i % 3 + 1)]
    parts = data.split_by_source(pairs, 0.1, 0.1, seed=0)
    seen = {name: {s for s, _ in split} for name, split in parts.items()}
    assert not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
    assert not seen["train"] & seen["val"]
    assert len(seen["test"]) == 20 and len(seen["val"]) == 20
    assert sum(map(len, parts.values())) == len(pairs)
    assert data.split_by_source(pairs, 0.1, 0.1, seed=0) == parts
    assert data.split_by_source(pairs, 0.1, 0.1, seed=1) != parts
    assert len({s for s, _ in itertools.chain(*data.split_by_source(
        pairs, 0.1, 0.1, seed=0, limit=50).values())}) == 50
    with pytest.raises(DataError, match="too few to split"):
        data.split_by_source(pairs[:2], 0.5, 0.5, seed=0)


def test_tokenizer_round_trip_keeps_placeholders():
    corpus = ["Cannot open file %s", "Saved %(count)d items to %(path)s", "Read %u bytes",
              "Hello, world!", "100%% done"] * 20
    tokenizer = model.load_tokenizer(model.train_tokenizer(corpus, 60), "test")
    ids = model.tokenize(tokenizer, ["Cannot  open %(path)s file %s", "Read %u bytes"])
    assert ids.dtype == tf.int32 and ids.shape[0] == 2
    text = tokenizer.detokenize(ids).numpy()
    assert [t.decode() for t in text] == ["Cannot open %(path)s file %s", "Read %u bytes"]
    assert model.tokenize(tokenizer, []).shape[0] == 0


def tiny_translator(**kwargs):
    net = model.Translator(20, 30, embedding_dim=8, encoder_units=6, encoder_depth=2,
                           decoder_units=10, attention_units=5, **kwargs)
    net({"source": tf.ones((1, 2), tf.int32), "target_in": tf.ones((1, 2), tf.int32)})
    return net


@pytest.mark.parametrize("attention", ["bahdanau", "luong", None])
def test_teacher_forcing_matches_step_by_step_decoding(attention):
    net = tiny_translator(attention=attention)
    rng = np.random.default_rng(0)
    source = tf.constant(np.concatenate([rng.integers(4, 20, (2, 5)), np.zeros((2, 2))],
                                        axis=1), tf.int32)
    target_in = tf.constant(rng.integers(4, 30, (2, 4)), tf.int32)
    logits = net({"source": source, "target_in": target_in}).numpy()
    memory, mask, state = net.encode(source)
    for t in range(4):
        step_logits, state = net.step(target_in[:, t], state, {"memory": memory, "mask": mask})
        np.testing.assert_allclose(step_logits.numpy(), logits[:, t], rtol=1e-4, atol=1e-5)
    # padding the source further changes nothing
    wider = tf.pad(source, [[0, 0], [0, 3]])
    np.testing.assert_allclose(net({"source": wider, "target_in": target_in}).numpy(), logits,
                               rtol=1e-4, atol=1e-5)


def test_beam_width_one_is_greedy_on_a_translator():
    net = tiny_translator(attention="bahdanau")
    source = tf.constant(np.random.default_rng(1).integers(4, 20, (6, 7)), tf.int32)
    memory, mask, state = net.encode(source)
    fixed = {"memory": memory, "mask": mask}
    greedy = decoding.greedy_search(net.step, state, fixed, model.BOS, model.EOS, 9)
    beam, _ = decoding.beam_search(net.step, state, fixed, model.BOS, model.EOS, 9, 1)
    assert decoding.trim(greedy, model.EOS).to_list() == decoding.trim(beam, model.EOS).to_list()


def test_translator_config_round_trip_and_bad_attention():
    net = tiny_translator(attention="luong", dropout=0.1)
    assert model.Translator.from_config(net.get_config()).get_config() == net.get_config()
    with pytest.raises(ValueError, match="attention: got 'dot'"):
        model.Translator(10, 10, attention="dot")


def test_bucketed_batches_pad_within_a_bucket():
    sources = tf.ragged.constant([[5] * n for n in (2, 3, 9, 10, 2, 11)], dtype=tf.int32)
    targets = tf.ragged.constant([[6] * n for n in (3, 2, 9, 12, 1, 9)], dtype=tf.int32)
    ds = model.examples(sources, targets, max_tokens=64)
    batches = list(model.bucketed_batches(8, 64)(ds, 8))
    widths = sorted((int(x["source"].shape[1]), int(y.shape[1])) for x, y in batches)
    assert widths == [(3, 4), (11, 13)]  # short and long sentences never share a batch
    # a pair that does not fit in max_tokens is left out, not cut
    assert len(list(model.examples(sources, targets, max_tokens=10))) == 4
    x, y = next(iter(ds))
    assert x["target_in"].numpy()[0] == model.BOS and y.numpy()[-1] == model.EOS


def test_bleu_by_length_buckets():
    sources = ["a b c d", "a b c d e f g", "a"]
    references = ["x y z w v", "x y z w v u t", "q r s t u"]
    rows = bleu_by_length(sources, references, {"m": references})
    assert [(r["bucket"], r["sentences"]) for r in rows] == [("1-5", 2), ("6-10", 1)]
    assert rows[0]["m"] == pytest.approx(100.0)


VERBS = {"open": "abrir", "close": "cerrar", "delete": "borrar", "save": "guardar",
         "copy": "copiar", "move": "mover"}
OBJECTS = {"the file": "el archivo", "the folder": "la carpeta", "the window": "la ventana",
           "the image": "la imagen", "the link": "el enlace"}


def tiny_corpus(path):
    lines = []
    for (ve, vs), (oe, os_) in itertools.product(VERBS.items(), OBJECTS.items()):
        lines.append(f"{ve.capitalize()} {oe} %s\t{vs.capitalize()} {os_} %s")
        lines.append(f"Cannot {ve} {oe}\tNo se puede {vs} {os_}\tattribution")
        lines.append(f"Do you want to {ve} {oe}?\t¿Quiere {vs} {os_}?")
    lines.insert(5, "a line without a tab")
    path.write_text("\n".join(lines) + "\n")
    return path


TINY = ["--set", "trainer.epochs=2", "--set", "model.embedding_dim=16",
        "--set", "model.encoder_units=16", "--set", "model.decoder_units=24",
        "--set", "model.attention_units=8", "--set", "model.source_vocabulary=80",
        "--set", "model.target_vocabulary=80", "--set", "model.max_tokens=24",
        "--set", "model.beam_width=3", "--set", "data.test_fraction=0.2"]


def tiny_run_args(workdir):
    """The `suite run translation` arguments of the tiny config, with the tiny corpus
    written into `workdir` (how `tests/tiny.py` runs it for other tests)."""
    return ["--data", str(tiny_corpus(workdir / "pairs.tsv")), *TINY]


def test_end_to_end_on_a_tiny_corpus(workdir, capsys):
    corpus = tiny_corpus(workdir / "pairs.tsv")
    assert main(["run", "translation", "--data", str(corpus), *TINY]) == 0
    version = workdir / "saved_models" / "translation" / "1"
    manifest = export.read_manifest(version)
    assert set(manifest["metrics"]) == {
        f"{prefix}_{metric}{search}" for prefix in ("test", "baseline_no_attention")
        for metric in ("bleu", "chrf") for search in ("", "_greedy")}
    assert_manifest_matches_model(version)
    assert manifest["signatures"]["serving_default"]["inputs"]["sentences"]["kind"] == "text"
    assert manifest["decoding"] == {"beam_width": 3, "length_penalty": 0.6, "max_tokens": 24}

    run = mlflow.search_runs(experiment_names=["translation"]).iloc[0]
    assert run["tags.data_skipped"] == "1"
    client = mlflow.MlflowClient()
    figures = {a.path for a in client.list_artifacts(run["run_id"], "figures")}
    assert figures == {"figures/learning_curves.png", "figures/bleu_by_length.png",
                       "figures/attention_1.png", "figures/attention_2.png",
                       "figures/attention_3.png"}
    samples = mlflow.artifacts.load_text(f"runs:/{run['run_id']}/reports/samples.md")
    assert samples.startswith("| source | reference | attention (beam) | no attention (beam) |")
    assert len(samples.splitlines()) == 2 + 18  # 20% of 90 pairs, all shown

    loaded = tf.saved_model.load(str(version))
    serve = loaded.signatures["serving_default"]
    long = " ".join(["open the file"] * 100)
    out = serve(sentences=tf.constant(["Open the file %s", "", "   \u00a0\u3000", long]))
    texts = [t.decode() for t in out["translation"].numpy()]
    assert texts[1] == texts[2] == "" and len(texts) == 4  # blank in, blank out
    assert serve(sentences=tf.constant(["", " "]))["translation"].numpy().tolist() == [b"", b""]
    assert serve(sentences=tf.zeros([0], tf.string))["translation"].shape == (0,)
    attention = loaded.signatures["attention"](sentences=tf.constant(["Close the window"]))
    weights = attention["weights"].numpy()
    pieces = attention["source_pieces"].numpy()[0]
    assert weights.shape[2] == pieces.shape[0]
    np.testing.assert_allclose(weights[0].sum(-1), 1.0, rtol=1e-4)

    capsys.readouterr()
    assert main(["predict", "translation", "Cannot open the file", "Save the image %s"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "Cannot open the file" and lines[2].startswith("  -> ")
    assert lines[3] == "Save the image %s"
    isolated = predict_without_training_code("translation", "Cannot open the file",
                                             "Save the image %s", cwd=workdir)
    assert isolated.returncode == 0, isolated.stderr
    assert isolated.stdout.splitlines()[1:] == lines[1:]


def test_export_translates_like_evaluation(workdir):
    """The graph the test split was scored with is the graph that is served (here with
    Luong attention, mixed precision and a mirrored strategy)."""
    corpus = tiny_corpus(workdir / "pairs.tsv")
    overrides = [o for o in TINY if o != "--set"] + [
        f"data.path={corpus}", "trainer.epochs=1", "model.attention=luong",
        "trainer.mixed_precision=true", "trainer.strategy=mirrored"]
    pipeline = TranslationPipeline(load_config(TranslationConfig, overrides=overrides))
    result = pipeline.run()
    assert result.tracking_errors == []
    sources = [s for s, _ in pipeline.pairs["test"]]
    references = [t for _, t in pipeline.pairs["test"]]
    serve = tf.saved_model.load(str(result.export_dir)).signatures["serving_default"]
    served = [t.decode() for t in serve(sentences=tf.constant(sources))["translation"].numpy()]
    assert served == pipeline.predictions["test"]["beam"].tolist()
    assert result.metrics["test_bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(served, [references]).score)


def test_bad_translation_config_fails_before_any_work(workdir, capsys):
    assert main(["run", "translation", "--set", "model.attention=dot"]) == 2
    assert "model.attention" in capsys.readouterr().err
    assert main(["run", "translation", "--set", "model.beam_width=0"]) == 2
    assert main(["run", "translation", "--set", "data.target_lang=zz",
                 "--set", "data.locale_dir=" + str(workdir)]) == 2
    assert "no gettext catalogs" in capsys.readouterr().err
    assert not (workdir / "saved_models").exists()
