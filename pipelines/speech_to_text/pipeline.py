"""The speech-to-text pipeline: a log-mel, strided-convolution and bidirectional GRU acoustic
model trained with CTC, scored by CER and WER on unseen speakers and an unseen accent
against the same model reading each utterance one way only."""

from __future__ import annotations

import dataclasses
import math

import jiwer
import keras
import numpy as np
import tensorflow as tf

from suite.baselines import Baseline
from suite.data import DataInfo, Skipped, Splits
from suite.pipeline import Pipeline, say

from pipelines.speech_to_text import data, lm, model
from pipelines.speech_to_text.config import SpeechToTextConfig

SAMPLES = 30            # transcripts in the samples artifact
EVAL_BATCH = 32
BUCKET_SECONDS = 0.5    # training batches hold utterances within this much of each other


@dataclasses.dataclass
class SpeechState:
    """What the model and the export share: the characters and the audio framing.

    Args:
        alphabet: the characters; class id `i + 1` is `alphabet[i]`, 0 is the CTC blank.
        sample_rate: the model's sample rate in Hz.
        frame_length, frame_step: the STFT window and hop, in samples.
    """

    alphabet: str
    sample_rate: int
    frame_length: int
    frame_step: int


class SpeechToTextPipeline(Pipeline):
    """Transcribes speech with CTC; espeak-ng utterances, or LJSpeech folders (--data).

    The model is `model.SpeechRecognizer`; the baseline reads each utterance forwards only.
    """

    name = "speech-to-text"
    config_cls = SpeechToTextConfig
    main_metric = "cer"
    main_baseline = "unidirectional"
    higher_is_better = False
    monitor = "val_loss"
    monitor_mode = "min"

    # --- data and model -----------------------------------------------------------------

    def load_data(self) -> Splits:
        cfg, m = self.config.data, self.config.model
        skipped = Skipped(cfg.on_error)
        if cfg.path:
            part = data.read_ljspeech(cfg.path, cfg.sample_rate, skipped, cfg.limit)
            parts = data.split_folder(part, cfg.val_fraction, cfg.test_fraction, cfg.seed)
            source = f"{cfg.path} (LJSpeech layout)"
        else:
            parts = data.load_embedded(cfg, say=lambda message: say(self.name, message))
            source = ("embedded: sentences of the fortunes files spoken by espeak-ng; test "
                      f"splits: unseen voice variants, and the unseen accent {cfg.test_accent}")
        state = SpeechState(data.ALPHABET, cfg.sample_rate,
                            round(m.frame_ms * cfg.sample_rate / 1000),
                            round(m.step_ms * cfg.sample_rate / 1000))
        for name in ("train", "val"):
            parts[name], dropped = self._alignable(parts[name], state)
            if dropped:
                say(self.name, f"left out {dropped} {name} utterance(s) with more characters "
                               "than the model has output frames for (fast speech at "
                               f"{state.frame_step * 2 ** len(m.conv_filters)} samples per "
                               "output frame)")
        self.parts = parts
        self._lm = None
        info = DataInfo(
            fingerprint=data.fingerprint(parts),
            sizes={name: len(part) for name, part in parts.items()},
            classes=list(data.ALPHABET), source=source, skipped=list(skipped.items),
            state=state)
        say(self.name, "audio: " + ", ".join(
            f"{name} {part.seconds(cfg.sample_rate) / 60:.0f} min" for name, part in parts.items()))
        return Splits(data.records(parts["train"]), data.records(parts["val"]),
                      data.records(parts["test"]), info, decode=data.decode)

    def _alignable(self, part: data.Part, state: SpeechState) -> tuple[data.Part, int]:
        """The utterances CTC can align: no more label frames needed than output frames."""
        keep = []
        for i, (wave, text) in enumerate(zip(part.waves, part.texts)):
            frames = math.ceil(len(wave) / state.frame_step)
            for _ in self.config.model.conv_filters:
                frames = (frames + 1) // 2
            if model.frames_needed(data.encode(text)) <= frames:
                keep.append(i)
        return part.subset(keep), len(part) - len(keep)

    def build_model(self, info: DataInfo, bidirectional: bool | None = None) -> keras.Model:
        m, state = self.config.model, info.state
        bidirectional = m.bidirectional if bidirectional is None else bidirectional
        net = model.SpeechRecognizer(
            len(state.alphabet), state.sample_rate, m.num_mel_bins, state.frame_length,
            state.frame_step, m.conv_filters, m.rnn_cell, m.rnn_units, m.rnn_depth,
            bidirectional, m.dropout, m.freq_masks, m.freq_mask_bins, m.time_masks,
            m.time_mask_frames, seed=self.config.trainer.seed,
            name="speech_recognizer" if bidirectional else "speech_recognizer_unidirectional")
        net.build()
        return self.trainer.compile(net, loss=None)

    def batching(self, info: DataInfo):
        rate = info.state.sample_rate
        boundaries = [int(rate * BUCKET_SECONDS * k) for k in range(1, 60)]

        def batch(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
            return ds.bucket_by_sequence_length(
                lambda x, y: x["length"], boundaries, [batch_size] * (len(boundaries) + 1),
                padded_shapes=({"waveform": [None], "length": []}, [None]))

        return batch

    def callbacks(self, info: DataInfo, splits: Splits) -> list[keras.callbacks.Callback]:
        count = self.config.model.val_cer_utterances
        if not count or not len(self.parts["val"]):
            return []
        return [ValidationCER(self.parts["val"].subset(range(min(count, len(self.parts["val"])))))]

    def language_model(self):
        """The character language model beam search fuses in (`model.lm_order`; None at 0),
        fitted once per run on `data.language_model_text`."""
        order = self.config.model.lm_order
        if not order:
            return None
        if self._lm is None:
            texts = data.language_model_text(
                self.parts, None if self.config.data.path else self.config.data.fortunes_dir)
            ngrams, contexts = lm.fit(texts, data.ALPHABET, order)
            self._lm = lm.CharLanguageModel(ngrams, contexts, order)
            say(self.name, f"character {order}-gram language model: {len(texts):,} sentences "
                           f"({sum(len(t) for t in texts) / 1e6:.1f}M characters), "
                           f"{len(ngrams):,} n-grams")
        return self._lm

    def transcriber(self, net: keras.Model):
        """The graph the export serves, as a `tf.function` of `(waveform, length)`."""
        m = self.config.model
        return transcriber(net, m.beam_width, self.language_model(), m.lm_weight,
                           m.lm_length_bonus)

    # --- baselines, evaluation ----------------------------------------------------------

    def baselines(self) -> list[Baseline]:
        return [Baseline(
            "unidirectional", fit=self._fit_unidirectional, predict=self._transcribe_tests,
            depends_on=("trainer", "model"),
            description="the same model with its recurrent layers reading forwards only")]

    def _fit_unidirectional(self, splits: Splits, workdir) -> keras.Model:
        return self.fit_network(lambda: self.build_model(splits.info, bidirectional=False),
                                splits, workdir, batch=self.batching(splits.info))

    def _transcribe_tests(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        out, fn = {}, self.transcriber(net)
        for name, prefix in (("test", ""), ("test_unseen_accent", "unseen_accent_")):
            if name in self.parts:
                texts = transcribe(net, self.parts[name], fn=fn)
                for key, values in texts.items():
                    out[f"{prefix}{key}"] = np.asarray(values, dtype=str)
        out["parameters"] = np.asarray(net.count_params())
        return out

    def predict(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        return self._transcribe_tests(net, splits)

    def score(self, predictions: dict[str, np.ndarray], splits: Splits) -> dict[str, float]:
        metrics = {}
        for name, prefix in (("test", ""), ("test_unseen_accent", "unseen_accent_")):
            if f"{prefix}transcript" not in predictions:
                continue
            references = self.parts[name].texts
            for search, suffix in (("transcript", ""), ("beam", "_beam"),
                                   ("greedy", "_greedy")):
                if search == "beam" and f"{prefix}lm" not in predictions:
                    continue  # without a language model the transcript is the beam's
                hypotheses = [str(h) for h in predictions[f"{prefix}{search}"]]
                metrics[f"{prefix}cer{suffix}"] = jiwer.cer(references, hypotheses)
                metrics[f"{prefix}wer{suffix}"] = jiwer.wer(references, hypotheses)
        return metrics

    def figures(self, net: keras.Model, splits: Splits, predictions) -> dict:
        from pipelines.speech_to_text import plots

        part = self.parts["test"]
        pick = int(np.argsort([len(t) for t in part.texts])[len(part) // 2])
        wave = part.waves[pick].astype(np.float32)[None] / 32768.0
        length = np.array([wave.shape[1]], np.int32)
        # float32 for matplotlib: under mixed precision the model computes in 16 bits
        features = np.asarray(net.frontend(wave, length), np.float32)[0]
        out = net({"waveform": wave, "length": length}, training=False)
        return {"spectrogram_ctc": plots.spectrogram_with_ctc(
            features, np.asarray(out["log_probs"], np.float32)[0], self.splits.info.state,
            part.texts[pick], str(predictions["test"]["transcript"][pick]))}

    def artifacts(self, net: keras.Model, splits: Splits, predictions) -> dict[str, str]:
        names = {"test": "bidirectional", "baseline_unidirectional": "unidirectional"}
        blocks = []
        for split, prefix in (("test", ""), ("test_unseen_accent", "unseen_accent_")):
            if split not in self.parts:
                continue
            part = self.parts[split]
            for key, p in predictions.items():
                if f"{prefix}transcript" not in p:
                    continue
                hypotheses = [str(h) for h in p[f"{prefix}transcript"][:SAMPLES]]
                alignment = jiwer.process_words(part.texts[:SAMPLES], hypotheses)
                blocks.append(f"== {split}: {names.get(key, key)} model, {self._decoding()} "
                              f"(S: substituted, D: deleted, I: inserted word) ==\n"
                              + jiwer.visualize_alignment(alignment, show_measures=False))
        params = "\n".join(f"{names.get(k, k)}: {int(p['parameters']):,} parameters"
                           for k, p in predictions.items())
        return {"samples.txt": "\n".join(blocks), "parameters.txt": params + "\n"}

    # --- export -------------------------------------------------------------------------

    def serving_example(self, splits: Splits) -> dict[str, np.ndarray]:
        rate = self.config.data.sample_rate
        return {"audio": np.array([
            tf.audio.encode_wav(wave.astype(np.float32)[:, None] / 32768.0, rate).numpy()
            for wave in self.parts["test"].waves[:2]], dtype=object)}

    def describe(self, info: DataInfo) -> dict:
        rate = info.state.sample_rate
        transcript = {"transcript": {
            "kind": "text", "description": "the transcript (lower-case letters, apostrophes "
                                           f"and spaces), by {self._decoding()}"}}
        return {
            "serving_default": {
                "inputs": {"audio": {"kind": "encoded_audio",
                                     "description": "WAV file bytes (16-bit PCM, any sample "
                                                    "rate, channels averaged); resampled to "
                                                    f"{rate} Hz inside the model"}},
                "outputs": transcript},
            "transcribe_waveform": {
                "inputs": {"waveform": {"kind": "waveform",
                                        "description": f"float32 samples in [-1, 1] at {rate} "
                                                       "Hz, zero-padded to the longest"},
                           "length": {"kind": "lengths",
                                      "description": "each waveform's real samples"}},
                "outputs": transcript},
        }

    def manifest_extra(self, info: DataInfo) -> dict:
        return {"sample_rate": info.state.sample_rate, "alphabet": info.state.alphabet,
                "decoding": {"beam_width": self.config.model.beam_width,
                             "lm_order": self.config.model.lm_order,
                             "lm_weight": self.config.model.lm_weight,
                             "lm_length_bonus": self.config.model.lm_length_bonus}}

    def _decoding(self) -> str:
        m = self.config.model
        return (f"CTC beam search with a character {m.lm_order}-gram language model"
                if m.lm_order else "CTC beam search")

    def serving_model(self, net: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        rate = info.state.sample_rate
        m, language_model = self.config.model, self.language_model()
        transcribe_fn = model.transcribe_graph(net, m.beam_width, language_model, m.lm_weight,
                                               m.lm_length_bonus)

        def from_bytes(audio):
            waveform, length = model.decode_audio(audio, rate)
            return {"transcript": transcribe_fn(waveform, length)["transcript"]}

        def from_waveform(waveform, length):
            return {"transcript": transcribe_fn(waveform, length)["transcript"]}

        archive = keras.export.ExportArchive()
        archive.track(net)
        if language_model is not None:
            archive.track(language_model)
        archive.add_endpoint("serving_default", from_bytes,
                             input_signature=[tf.TensorSpec([None], tf.string, name="audio")])
        archive.add_endpoint("transcribe_waveform", from_waveform, input_signature=[
            tf.TensorSpec([None, None], tf.float32, name="waveform"),
            tf.TensorSpec([None], tf.int32, name="length")])
        return archive


def transcriber(net: keras.Model, beam_width: int, lm=None, lm_weight: float = 0.5,
                length_bonus: float = 2.0):
    """`model.transcribe_graph` as a `tf.function` of `(waveform, length)`."""
    return tf.function(model.transcribe_graph(net, beam_width, lm, lm_weight, length_bonus),
                       input_signature=[tf.TensorSpec([None, None], tf.float32),
                                        tf.TensorSpec([None], tf.int32)])


def transcribe(net: keras.Model, part: data.Part, beam_width: int = 1,
               batch_size: int = EVAL_BATCH, fn=None) -> dict[str, list[str]]:
    """Every decoding's transcripts of every utterance of `part`, in order (utterances
    batched by length); `fn` is a `transcriber` of `net` to use (default: greedy and beam
    search of `beam_width`, no language model)."""
    fn = fn or transcriber(net, beam_width)
    order = np.argsort([len(w) for w in part.waves], kind="stable")
    out: dict[str, list[str]] = {}
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        lengths = np.array([len(part.waves[i]) for i in index], np.int32)
        waveform = np.zeros((len(index), max(lengths.max(initial=0), 1)), np.float32)
        for row, i in enumerate(index):
            waveform[row, :lengths[row]] = part.waves[i] / 32768.0
        texts = fn(tf.constant(waveform), tf.constant(lengths))
        for key in texts:
            out.setdefault(key, [""] * len(part))
            for i, text in zip(index, texts[key].numpy()):
                out[key][i] = text.decode("utf-8")
    return out


class ValidationCER(keras.callbacks.Callback):
    """Logs `val_cer`, the greedy character error rate on a validation sample, each epoch.

    Args:
        part: the validation utterances to transcribe.
    """

    def __init__(self, part: data.Part):
        super().__init__()
        self.part = part
        self._fn = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        self._fn = self._fn or transcriber(self.model, beam_width=1)
        texts = transcribe(self.model, self.part, beam_width=1, fn=self._fn)["greedy"]
        logs["val_cer"] = float(jiwer.cer(self.part.texts, texts))
