"""Speech to text: the espeak-ng corpus, the LJSpeech loader, CTC decoding, the model and
the pipeline end to end with its export."""

import dataclasses
import shutil
from pathlib import Path

import jiwer
import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines.speech_to_text import data, lm, model, synthesis
from pipelines.speech_to_text.config import SpeechToTextConfig
from pipelines.speech_to_text.pipeline import SpeechToTextPipeline
from suite import export
from suite.config import ConfigError, load_config
from suite.data import DataError, Skipped
from suite.data.audio import wav_bytes
from tests.harness import assert_manifest_matches_model, predict_without_training_code

TINY = ["--set", "trainer.epochs=1", "--set", "data.utterances=40",
        "--set", "data.eval_utterances=6", "--set", "data.val_utterances=4",
        "--set", "model.conv_filters=4,4", "--set", "model.rnn_units=8",
        "--set", "model.rnn_depth=1", "--set", "model.num_mel_bins=16",
        "--set", "model.beam_width=4", "--set", "model.val_cer_utterances=4",
        "--set", "model.lm_order=4",
        # SpecAugment and dropout are off by default; the tiny runs train with them
        "--set", "model.freq_masks=1", "--set", "model.time_masks=1",
        "--set", "model.dropout=0.1"]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (debian-packages.txt)")


def _tiny_config(*more):
    return load_config(SpeechToTextConfig, overrides=[t for t in [*TINY, *more] if t != "--set"])


# --- the synthesised corpus -------------------------------------------------------------

def test_a_missing_espeak_names_the_package_and_the_set_up_command():
    with pytest.raises(DataError, match="Install the Debian package espeak-ng .*apt-get "
                                        "install espeak-ng.*scripts/setup.sh"):
        synthesis.find_program("no-such-espeak-ng")
    config = _tiny_config("data.espeak=no-such-espeak-ng")
    with pytest.raises(DataError, match="'no-such-espeak-ng' was not found"):
        data.load_embedded(config.data)


def test_normalize_keeps_the_alphabet_only():
    assert data.normalize("Don't   PANIC -- it's 42 Caf\u00e9\u2019s!") == "don't panic it's cafe's"
    assert data.encode("ab a") == [3, 4, 1, 3]
    assert model.frames_needed(data.encode("hello")) == 6  # "ll" needs a blank between


def test_plan_never_speaks_a_test_sentence_or_voice_in_training():
    config = _tiny_config("data.utterances=300", "data.eval_utterances=40").data
    accents = ["en-gb", "en-us", "en-gb-scotland", "en-029"]
    variants = [f"v{i}" for i in range(20)]
    sentences = [f"sentence number {i}" for i in range(500)]
    planned = data.plan(config, accents, variants, sentences)
    texts = {name: {u.text for u in us} for name, us in planned.items()}
    assert len(planned["train"]) == 300 and len(planned["test"]) == 40
    for held in ("val", "test", "test_unseen_accent"):
        assert not texts[held] & texts["train"]
    assert not texts["test"] & texts["test_unseen_accent"]
    train_variants = {u.variant for u in planned["train"]}
    assert not {u.variant for u in planned["test"]} & train_variants
    assert {u.accent for u in planned["test_unseen_accent"]} == {"en-gb-scotland"}
    assert "en-gb-scotland" not in {u.accent for name in ("train", "val", "test")
                                    for u in planned[name]}
    assert {u.variant for u in planned["test_unseen_accent"]} <= train_variants
    speeds = [u.speed for u in planned["train"]]
    assert min(speeds) >= 140 and max(speeds) <= 200 and len(set(speeds)) > 20
    assert planned == data.plan(config, accents, variants, sentences)  # seeded
    more = data.plan(_tiny_config("data.utterances=350", "data.eval_utterances=40").data,
                     accents, variants, sentences)
    for held in ("val", "test", "test_unseen_accent"):  # not moved by the training size
        assert more[held] == planned[held]
    with pytest.raises(DataError, match="'data.test_accent': got 'en-gb-scotland'"):
        data.plan(config, ["en-gb", "en-us"], variants, sentences)


def test_config_checks_ranges():
    with pytest.raises(ConfigError, match="'data.speed': got \\(200, 100\\)"):
        load_config(SpeechToTextConfig, overrides=["data.speed=200,100"])
    with pytest.raises(ConfigError, match="'model.lm_order': got 1"):
        _tiny_config("model.lm_order=1")
    with pytest.raises(ConfigError, match="'model.step_ms': got 30.0"):
        load_config(SpeechToTextConfig, overrides=["model.step_ms=30"])


@needs_espeak
def test_corpus_is_synthesised_once_and_cached_by_its_settings(workdir, capsys):
    config = _tiny_config().data
    parts = data.load_embedded(config)
    assert {n: len(p) for n, p in parts.items()} == {"train": 40, "val": 4, "test": 6,
                                                     "test_unseen_accent": 6}
    wave = parts["train"].waves[0]
    assert wave.dtype == np.int16 and 0.5 * 16000 < len(wave) < 8 * 16000
    assert np.abs(wave).max() > 1000  # speech, not silence
    assert "synthesised 56/56" in capsys.readouterr().err
    again = data.load_embedded(config)
    assert "synthesised" not in capsys.readouterr().err
    assert data.fingerprint(again) == data.fingerprint(parts)
    files = list((workdir / data.CACHE_ROOT).glob("espeak-*.npz"))
    assert len(files) == 1
    data.load_embedded(dataclasses.replace(config, pitch=(10, 30)))
    assert len(list((workdir / data.CACHE_ROOT).glob("espeak-*.npz"))) == 2


# --- the LJSpeech loader ------------------------------------------------------------------

def _tone(seconds, rate, hertz=440.0):
    t = np.arange(round(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * hertz * t)


def ljspeech_folder(root, count=12):
    """A folder in the LJSpeech layout: tones at 22,050 Hz with made-up transcripts."""
    (root / "wavs").mkdir(parents=True)
    lines = []
    for i in range(count):
        (root / "wavs" / f"LJ{i:03d}.wav").write_bytes(wav_bytes(_tone(0.5 + 0.1 * i, 22050,
                                                                       200 + 50 * i), 22050))
        lines.append(f"LJ{i:03d}|Chapter {i}: a tone.|Chapter {i}, a tone number {i}.")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def test_ljspeech_reads_normalised_text_at_the_model_rate(tmp_path):
    root = ljspeech_folder(tmp_path / "lj", count=3)
    part = data.read_ljspeech(root, 16000, Skipped())
    assert part.speakers == ["LJ000", "LJ001", "LJ002"]
    assert part.texts[0] == "chapter a tone number"  # digits dropped
    assert [len(w) for w in part.waves] == [8000, 9600, 11200]


def test_ljspeech_bad_rows_and_files_are_named_skipped_and_counted(tmp_path):
    root = ljspeech_folder(tmp_path / "lj", count=4)
    (root / "wavs" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really")
    (root / "wavs" / "empty.wav").write_bytes(wav_bytes(np.zeros(0), 16000))
    with open(root / "metadata.csv", "ab") as f:
        f.write(b"broken|Broken file.|Broken file.\n"
                b"empty|Nothing in it.|Nothing in it.\n"
                b"lost|No file for this one.|No file for this one.\n"
                b"latin|Caf\xe9 au lait.|Caf\xe9 au lait.\n"
                b"just-an-id\n"
                b"LJ000|1984|1984\n")
    skipped = Skipped()
    part = data.read_ljspeech(root, 16000, skipped)
    assert len(part) == 4 and len(skipped) == 6
    text = "\n".join(skipped.items)
    metadata = root / "metadata.csv"
    assert f"{root / 'wavs' / 'broken.wav'}: not a readable 16-bit PCM WAV file" in text
    assert f"{root / 'wavs' / 'empty.wav'}: an empty WAV file (no samples)" in text
    assert f"{metadata}:7: no audio file wavs/lost.wav for lost" in text
    assert f"{metadata}:8: not UTF-8 text (byte 10 of the line)" in text
    assert f"{metadata}:9: expected id|text|normalized text" in text
    assert f"{metadata}:10: the transcript of LJ000 has no letters" in text
    with pytest.raises(DataError, match="broken.wav: not a readable .*set data.on_error=skip"):
        data.read_ljspeech(root, 16000, Skipped("stop"))
    with pytest.raises(DataError, match="no metadata.csv; expected the LJSpeech layout"):
        data.read_ljspeech(tmp_path, 16000, Skipped())


# --- decoding and the model ---------------------------------------------------------------

def _one_hot_log_probs(classes):
    log_probs = np.full((1, len(classes), len(data.ALPHABET) + 1), -20.0, "float32")
    log_probs[0, np.arange(len(classes)), classes] = 0.0
    return log_probs


def test_greedy_ctc_collapses_repeats_then_drops_blanks():
    (a, b, space), blank = (data.ALPHABET.index(c) + 1 for c in "ab "), model.BLANK
    frames = [blank, a, a, blank, a, b, b, space, space, blank, b, blank, blank]
    log_probs = _one_hot_log_probs(frames)
    decoded, _ = keras.ops.ctc_decode(log_probs, [len(frames)], strategy="greedy",
                                      mask_index=model.BLANK)
    assert model.ids_to_text(decoded[0]).numpy().tolist() == [b"aab b"]
    # only the real frames count: the tail beyond the length is ignored
    decoded, _ = keras.ops.ctc_decode(log_probs, [6], strategy="greedy", mask_index=0)
    assert model.ids_to_text(decoded[0]).numpy().tolist() == [b"aab"]
    beam, _ = keras.ops.ctc_decode(log_probs, [len(frames)], strategy="beam_search",
                                   beam_width=4, mask_index=model.BLANK)
    assert model.ids_to_text(beam[0]).numpy().tolist() == [b"aab b"]


# --- the language model and the beam search it joins -----------------------------------

LM_TEXTS = ["the cat sat on the mat", "a dog ate the hat", "the cat ate", "that is that"]
SYMBOLS = list(data.ALPHABET) + [lm.EOS]


def test_char_language_model_is_witten_bell_and_sums_to_one():
    ngrams, contexts = lm.fit(LM_TEXTS, data.ALPHABET, order=3)
    # "at" is followed by " " 4 times (cat sat cat that), "e" twice, the end 3 times: 3
    # types in 9; the rest of the mass goes to what follows "t"
    lower = np.exp(lm.log_prob(ngrams, contexts, "t", " "))
    assert np.exp(lm.log_prob(ngrams, contexts, "at", " ")) == pytest.approx(
        (4 + 3 * lower) / (9 + 3))
    for context in ("^^", "^t", "at", "zq", "e "):
        total = sum(np.exp(lm.log_prob(ngrams, contexts, context, c)) for c in SYMBOLS)
        assert total == pytest.approx(1.0, abs=1e-6)
    # the graph's tables give the same numbers, for any shape of contexts
    tables = lm.CharLanguageModel(ngrams, contexts, order=3)
    grid = [["^^", "at"], ["zq", "e "]]
    in_graph = tables.log_probs(tf.constant(grid), tf.constant(SYMBOLS)).numpy()
    expected = [[[lm.log_prob(ngrams, contexts, h, c) for c in SYMBOLS] for h in row]
                for row in grid]
    np.testing.assert_allclose(in_graph, expected, atol=1e-5)
    assert tables.extend(tf.constant(["^^", "at"]), tf.constant(["t", " "])).numpy().tolist() \
        == [b"^t", b"t "]
    with pytest.raises(ValueError, match="order"):
        lm.fit(LM_TEXTS, data.ALPHABET, order=1)


def _frames(*rows):
    """Log-probabilities of frames given as {character: probability} (the rest: blank)."""
    out = np.full((1, len(rows), len(data.ALPHABET) + 1), 1e-6, "float32")
    for t, row in enumerate(rows):
        for c, p in row.items():
            out[0, t, data.ALPHABET.index(c) + 1] = p
        out[0, t, model.BLANK] = max(1.0 - sum(row.values()), 1e-6)
    return np.log(out / out.sum(-1, keepdims=True))


def test_language_model_beam_search_follows_the_acoustics_or_the_language_model():
    tables = lm.CharLanguageModel(*lm.fit(["the cat"] * 20, data.ALPHABET, order=4), order=4)
    # "c" and "k" equally likely by the sound: the language model knows "cat"
    log_probs = _frames({"t": .9}, {"h": .9}, {"e": .9}, {" ": .9}, {"c": .45, "k": .45},
                        {}, {"a": .9}, {"t": .9})
    frames = tf.constant([8])
    decode = lambda w, b: model.ids_to_text(  # noqa: E731
        model.ctc_lm_beam_search(log_probs, frames, tables, 8, w, b)).numpy()[0]
    assert decode(1.0, 0.0) == b"the cat"
    # with no language model weight, beam search agrees with TensorFlow's
    reference, _ = keras.ops.ctc_decode(log_probs, frames, strategy="beam_search",
                                        beam_width=8, mask_index=model.BLANK)
    assert decode(0.0, 0.0) == model.ids_to_text(reference[0]).numpy()[0]
    # a repeat needs a blank between; utterances shorter than the batch stop at their end
    repeat = _frames({"a": .9}, {}, {"a": .9}, {"a": .9}, {"b": .9})
    ids = model.ctc_lm_beam_search(np.concatenate([repeat, repeat]), tf.constant([5, 3]),
                                   tables, 4, 0.0, 0.0)
    assert model.ids_to_text(ids).numpy().tolist() == [b"aab", b"aa"]


def test_language_model_text_never_holds_a_held_out_sentence_or_its_four_words(tmp_path):
    (tmp_path / "sayings").write_text(
        "A stitch in time saves nine.\n%\nA stitch in time saves many.\n%\n"
        "Look before you leap.\n%\nHe who hesitates is lost.\n%\n")
    parts = {"train": data.Part([], ["look before you leap"], []),
             "test": data.Part([], ["a stitch in time saves nine"], [])}
    assert data.language_model_text(parts, tmp_path) == [
        "he who hesitates is lost", "look before you leap"]
    assert data.language_model_text(parts, None) == ["look before you leap"]


def test_recognizer_config_round_trip_and_loss_on_real_lengths():
    net = model.SpeechRecognizer(len(data.ALPHABET), num_mel_bins=16, conv_filters=(4, 4),
                                 rnn_units=8, rnn_depth=1)
    net.build()
    clone = model.SpeechRecognizer.from_config(net.get_config())
    assert clone.get_config() == net.get_config()
    waveform = np.random.default_rng(0).normal(size=(2, 16000)).astype("float32") * 0.1
    waveform[1, 8000:] = 0.0  # a batch pads with zeros
    x = {"waveform": waveform, "length": np.array([16000, 8000], np.int32)}
    out = net(x)
    assert out["frames"].numpy().tolist() == [25, 13]  # 100 and 50 frames, halved twice
    assert out["log_probs"].shape == (2, 25, 29)
    labels = np.array([[3, 4, 5], [3, 0, 0]], np.int32)
    loss = float(net.compute_loss(x, labels, out))
    # the padded half of the second utterance changes nothing
    short = {"waveform": waveform[1:, :8000], "length": np.array([8000], np.int32)}
    alone = float(net.compute_loss(short, labels[1:, :1], net(short)))
    both = keras.ops.ctc_loss(labels, out["log_probs"], np.array([3, 1]), out["frames"])
    assert np.isfinite(loss) and alone == pytest.approx(float(both[1]), rel=1e-4)


# --- end to end -----------------------------------------------------------------------------

@needs_espeak
def test_run_exports_a_model_that_transcribes_wav_bytes_at_any_rate(workdir):
    import mlflow

    pipeline = SpeechToTextPipeline(_tiny_config())
    result = pipeline.run()
    version = workdir / "saved_models" / "speech-to-text" / "1"
    assert result.export_dir == str(version) or str(result.export_dir).endswith(
        "speech-to-text/1")
    manifest = export.read_manifest(version)
    metrics = manifest["metrics"]
    assert result.tracking_errors == []
    for prefix in ("test", "baseline_unidirectional"):  # the reported numbers, recomputed
        predicted = pipeline.predictions[prefix]
        for split, part in (("", "test"), ("unseen_accent_", "test_unseen_accent")):
            references = pipeline.parts[part].texts
            for search, suffix in (("transcript", ""), ("beam", "_beam"), ("greedy", "_greedy")):
                hypotheses = [str(h) for h in predicted[f"{split}{search}"]]
                assert len(hypotheses) == len(references)
                assert metrics[f"{prefix}_{split}cer{suffix}"] == pytest.approx(
                    jiwer.cer(references, hypotheses))
                assert metrics[f"{prefix}_{split}wer{suffix}"] == pytest.approx(
                    jiwer.wer(references, hypotheses))
    assert manifest["sample_rate"] == 16000 and manifest["alphabet"] == data.ALPHABET
    assert_manifest_matches_model(version)

    run = mlflow.search_runs(experiment_names=["speech-to-text"]).iloc[0]
    assert run["status"] == "FINISHED" and "metrics.val_cer" in run
    client = mlflow.MlflowClient()
    assert {a.path for a in client.list_artifacts(run["run_id"], "figures")} == {
        "figures/learning_curves.png", "figures/spectrogram_ctc.png"}
    samples = Path(client.download_artifacts(run["run_id"], "reports/samples.txt",
                                             str(workdir))).read_text()
    ref_line = next(line for line in samples.splitlines() if line.startswith("REF: "))
    words = [w for w in ref_line.split()[1:] if set(w) != {"*"}]  # "***": an insertion
    assert words == pipeline.parts["test"].texts[0].split()

    # the export hears a WAV file at 22,050 Hz as the same speech at 16 kHz
    loaded = tf.saved_model.load(str(version))
    wave = pipeline.parts["test"].waves[0]
    from suite.data.audio import resample

    slow = np.round(resample(wave / 32768.0, 16000, 22050).numpy() * 32767).astype(np.int16)
    by_bytes = loaded.signatures["serving_default"](
        audio=tf.constant([wav_bytes(wave, 16000), wav_bytes(slow, 22050)]))["transcript"]
    by_waveform = loaded.signatures["transcribe_waveform"](
        waveform=tf.constant(wave[None] / 32768.0, tf.float32),
        length=tf.constant([len(wave)], tf.int32))["transcript"]
    assert by_bytes.dtype == tf.string and by_bytes.shape == (2,)
    assert by_bytes.numpy()[0] == by_waveform.numpy()[0]
    assert by_bytes.numpy()[0] == result_beam(pipeline, 0)

    path = workdir / "utterance.wav"
    path.write_bytes(wav_bytes(slow, 22050))
    isolated = predict_without_training_code("speech-to-text", str(path), cwd=workdir)
    assert isolated.returncode == 0, isolated.stderr
    assert f"{path}\n  -> {by_bytes.numpy()[1].decode()}" in isolated.stdout


def result_beam(pipeline, index) -> bytes:
    """The transcript (beam search with the language model) evaluation gave test
    utterance `index`."""
    return str(pipeline.predictions["test"]["transcript"][index]).encode()
