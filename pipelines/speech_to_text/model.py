"""The acoustic model (log-mel frontend, SpecAugment, convolutions striding over time, a
recurrent stack, a character softmax trained with CTC) and its decoding graph."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from suite.blocks import ConvSubsampling, LogMelSpectrogram, RecurrentEncoder, SpecAugment
from suite.data.audio import decode_wav

from pipelines.speech_to_text.data import ALPHABET
from pipelines.speech_to_text.lm import EOS

BLANK = 0  # the CTC blank's class id; character ALPHABET[i] is class i + 1


@keras.saving.register_keras_serializable(package="suite")
class SpeechRecognizer(keras.Model):
    """Waveforms -> per-frame log-probabilities of the characters and the CTC blank.

    In the spirit of DeepSpeech 2: log-mel frames normalised per utterance, SpecAugment
    while training, convolutions that each halve time and frequency (stride 2),
    a stack of (bidirectional) GRU or LSTM layers over the frames of each utterance's own
    length, and a dense softmax over `vocabulary_size` characters plus the blank (id 0).
    The loss is CTC with each utterance's real label and frame counts, so it is computed
    by the model (`compute_loss`); compile it with `loss=None`.

    Called on `{"waveform": [batch, samples] float32, "length": [batch] int32}`; returns
    `{"log_probs": [batch, frames, vocabulary_size + 1], "frames": [batch]}`.

    Args:
        vocabulary_size: characters, blank excluded.
        sample_rate: the waveform's sample rate in Hz.
        num_mel_bins, frame_length, frame_step: the log-mel frontend (lengths in samples).
        conv_filters: the feature maps of each conv block.
        rnn_cell, rnn_units, rnn_depth, bidirectional, dropout: the recurrent stack.
        freq_masks, freq_mask_width, time_masks, time_mask_width: SpecAugment.
        seed: SpecAugment's random seed.
        **kwargs: standard model arguments (`name`, ...).
    """

    def __init__(self, vocabulary_size, sample_rate=16000, num_mel_bins=40, frame_length=400,
                 frame_step=160, conv_filters=(32, 32), rnn_cell="gru", rnn_units=192,
                 rnn_depth=3, bidirectional=True, dropout=0.0, freq_masks=0,
                 freq_mask_width=10, time_masks=0, time_mask_width=20, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(vocabulary_size) < 1:
            raise ValueError(f"SpeechRecognizer vocabulary_size: got {vocabulary_size!r}, "
                             "expected an integer >= 1")
        conv_filters = tuple(int(f) for f in conv_filters)
        self.vocabulary_size = int(vocabulary_size)
        self.sample_rate = int(sample_rate)
        self.num_mel_bins = int(num_mel_bins)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.conv_filters = conv_filters
        self.rnn_cell = rnn_cell
        self.rnn_units = int(rnn_units)
        self.rnn_depth = int(rnn_depth)
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.freq_masks = int(freq_masks)
        self.freq_mask_width = int(freq_mask_width)
        self.time_masks = int(time_masks)
        self.time_mask_width = int(time_mask_width)
        self.seed = seed

        self.frontend = LogMelSpectrogram(self.sample_rate, self.num_mel_bins,
                                          self.frame_length, self.frame_step, name="log_mel")
        self.spec_augment = SpecAugment(self.freq_masks, self.freq_mask_width,
                                        self.time_masks, self.time_mask_width, seed=seed,
                                        name="spec_augment")
        self.convs = ConvSubsampling(conv_filters, name="conv_subsampling")
        self.encoder = RecurrentEncoder(self.rnn_units, self.rnn_depth, rnn_cell,
                                        dropout=self.dropout, bidirectional=self.bidirectional,
                                        return_sequences=True, name="recurrent_encoder")
        self.head = keras.layers.Dense(self.vocabulary_size + 1, name="characters")

    def build(self, input_shape=None):
        shape = (None, None)
        self.frontend.build(shape)
        shape = self.frontend.compute_output_shape(shape)
        self.spec_augment.build(shape)
        self.convs.build(shape)
        shape = self.convs.compute_output_shape(shape)
        self.encoder.build(shape)
        self.head.build(self.encoder.compute_output_shape(shape))
        self.built = True

    def output_lengths(self, lengths):
        """The output frames of utterances of `lengths` samples."""
        return self.convs.output_lengths(self.frontend.frame_lengths(lengths))

    def call(self, inputs, training=None):
        waveform, length = inputs["waveform"], inputs["length"]
        x = self.frontend(waveform, length)
        x = self.spec_augment(x, training=training)
        real = tf.sequence_mask(self.frontend.frame_lengths(length), tf.shape(x)[1])
        x = self.convs(x, training=training, mask=real)
        frames = self.output_lengths(length)
        mask = tf.sequence_mask(frames, tf.shape(x)[1])
        x = self.encoder(x, mask=mask, training=training)
        log_probs = tf.nn.log_softmax(tf.cast(self.head(x), tf.float32))
        return {"log_probs": log_probs, "frames": frames}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean CTC loss over the batch; `y` is character ids padded with 0 (the blank)."""
        labels = tf.cast(y, tf.int32)
        label_lengths = tf.math.count_nonzero(labels, axis=1, dtype=tf.int32)
        loss = keras.ops.ctc_loss(labels, y_pred["log_probs"], label_lengths,
                                  y_pred["frames"], mask_index=BLANK)
        total = tf.reduce_mean(loss)
        if self.losses:
            total += tf.add_n([tf.cast(v, tf.float32) for v in self.losses])
        return total

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size, "sample_rate": self.sample_rate,
            "num_mel_bins": self.num_mel_bins, "frame_length": self.frame_length,
            "frame_step": self.frame_step, "conv_filters": list(self.conv_filters),
            "rnn_cell": self.rnn_cell, "rnn_units": self.rnn_units,
            "rnn_depth": self.rnn_depth, "bidirectional": self.bidirectional,
            "dropout": self.dropout, "freq_masks": self.freq_masks,
            "freq_mask_width": self.freq_mask_width, "time_masks": self.time_masks,
            "time_mask_width": self.time_mask_width, "seed": self.seed,
        })
        return config


def frames_needed(ids) -> int:
    """The fewest frames CTC needs for a label: one per character, plus a blank between
    each pair of equal neighbours."""
    ids = np.asarray(ids)
    return int(len(ids) + np.sum(ids[1:] == ids[:-1]))


def ids_to_text(ids):
    """`[batch, steps]` class ids padded with -1 -> strings, joined in the graph (spaces
    collapsed and trimmed)."""
    characters = tf.constant(list(ALPHABET))
    ragged = tf.RaggedTensor.from_tensor(ids, padding=-1)
    ragged = tf.ragged.boolean_mask(ragged, ragged > BLANK)
    text = tf.strings.reduce_join(tf.gather(characters, ragged - 1), axis=1)
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))


def transcribe_graph(net: SpeechRecognizer, beam_width: int, lm=None, lm_weight: float = 0.5,
                     length_bonus: float = 2.0):
    """`(waveform, length) -> {"greedy", "beam"[, "lm"], "transcript": strings}` as
    TensorFlow ops: the model, then CTC decoding (best path; beam search of `beam_width`;
    with a language model `lm`, beam search with it fused in, `ctc_lm_beam_search`) and
    the characters joined into text, all in the graph. "transcript" is the decoding the
    export serves ("lm", else "beam"). A beam width of 1 reuses greedy for "beam".
    Its branches are on Python values only, so AutoGraph leaves it as written (converting
    the closure failed with a "closure mismatch" warning printed to the user)."""

    @tf.autograph.experimental.do_not_convert
    def transcribe(waveform, length):
        out = net({"waveform": waveform, "length": length}, training=False)
        log_probs, frames = out["log_probs"], out["frames"]
        greedy, _ = keras.ops.ctc_decode(log_probs, frames, strategy="greedy",
                                         mask_index=BLANK)
        texts = {"greedy": ids_to_text(greedy[0])}
        if beam_width > 1:
            beam, _ = keras.ops.ctc_decode(log_probs, frames, strategy="beam_search",
                                           beam_width=beam_width, top_paths=1,
                                           mask_index=BLANK)
            texts["beam"] = ids_to_text(beam[0])
        else:
            texts["beam"] = texts["greedy"]
        if lm is not None:
            texts["lm"] = ids_to_text(ctc_lm_beam_search(log_probs, frames, lm, beam_width,
                                                         lm_weight, length_bonus))
        texts["transcript"] = texts.get("lm", texts["beam"])
        return texts

    return transcribe


def decode_audio(audio, sample_rate: int):
    """`[batch]` WAV file bytes -> `(waveform [batch, samples], length [batch])` at
    `sample_rate`, zero-padded to the longest, in the graph."""
    waves = tf.map_fn(lambda b: decode_wav(b, sample_rate)[0], audio,
                      fn_output_signature=tf.RaggedTensorSpec([None], tf.float32,
                                                              ragged_rank=0))
    return waves.to_tensor(0.0), tf.cast(waves.row_lengths(), tf.int32)


_NEG = -1e30      # log of zero that keeps sums and differences finite
_HASH = 1000003   # prefix hashes: hash(prefix + c) = hash(prefix) * _HASH + c (wrapping)


def _logaddexp(a, b):
    return tf.reduce_logsumexp(tf.stack([a, b]), axis=0)


def ctc_lm_beam_search(log_probs, frames, lm, beam_width: int, lm_weight: float,
                       length_bonus: float):
    """CTC prefix beam search with a character language model fused in, in the graph.

    Each hypothesis is a prefix of characters with the log-probability of the frames so
    far ending in a blank and ending in its last character; it is ranked by the sum of
    these, `lm_weight` times its language-model log-probability and `length_bonus` per
    character (which offsets the model's preference for fewer characters). At each frame
    every prefix stays or grows by one character; a prefix reached both ways is merged
    (`Hannun et al., 2014`). Utterances are decoded together, each for its own frames.

    Args:
        log_probs: `[batch, frames, characters + 1]` log-probabilities, blank first.
        frames: `[batch]` the real frames of each utterance.
        lm: a `lm.CharLanguageModel` over the characters.
        beam_width: prefixes kept.
        lm_weight, length_bonus: the fusion's weights.

    Returns:
        `[batch, frames]` character ids of the best prefix, padded with 0 (the blank).
    """
    log_probs = tf.cast(log_probs, tf.float32)
    batch, steps = tf.shape(log_probs)[0], tf.shape(log_probs)[1]
    size = log_probs.shape[-1] - 1
    width = int(beam_width)
    chars = tf.constant(list(ALPHABET[:size]))
    char_ids = tf.range(1, size + 1)
    first = tf.one_hot(tf.zeros([batch], tf.int32), width, on_value=0.0, off_value=_NEG)
    state = dict(
        prefix=tf.zeros([batch, width, steps], tf.int32),
        length=tf.zeros([batch, width], tf.int32),
        last=tf.zeros([batch, width], tf.int32),
        hash=tf.broadcast_to(-tf.range(width, dtype=tf.int64), [batch, width]),
        parent=tf.fill([batch, width], tf.constant(-(2 ** 62), tf.int64)),
        blank=first, char=tf.fill([batch, width], _NEG),
        lm=tf.zeros([batch, width]),
        context=tf.fill([batch, width], lm.start))

    def step(t, s):
        row = log_probs[:, t]                                        # [N, C]
        total = _logaddexp(s["blank"], s["char"])                    # [N, W]
        # The prefix stays: a blank, or its last character again.
        stay_blank = total + row[:, :1]
        stay_char = tf.where(s["length"] > 0,
                             s["char"] + tf.gather(row, s["last"], batch_dims=1), _NEG)
        # The prefix grows by c: after a blank only when c repeats its last character.
        repeat = tf.equal(s["last"][..., None], char_ids)            # [N, W, V]
        grow = tf.where(repeat, s["blank"][..., None], total[..., None]) + row[:, None, 1:]
        # A prefix i equal to prefix j grown by i's last character: merge the two.
        same = tf.logical_and(tf.equal(s["parent"][:, :, None], s["hash"][:, None, :]),
                              (s["length"] > 0)[:, :, None])         # [N, i, j]
        last = tf.maximum(s["last"] - 1, 0)
        into = tf.gather(tf.transpose(grow, [0, 2, 1]), last, batch_dims=1)  # [N, i, j]
        stay_char = _logaddexp(stay_char, tf.reduce_logsumexp(
            tf.where(same, into, _NEG), axis=2))
        merged = tf.matmul(tf.cast(same, tf.float32), tf.one_hot(last, size),
                           transpose_a=True) > 0                    # [N, j, V]
        grow = tf.where(merged, _NEG, grow)
        grow_lm = s["lm"][..., None] + lm.log_probs(s["context"], chars)
        stay_score = (_logaddexp(stay_blank, stay_char) + lm_weight * s["lm"]
                      + length_bonus * tf.cast(s["length"], tf.float32))
        grow_score = (grow + lm_weight * grow_lm
                      + length_bonus * tf.cast(s["length"] + 1, tf.float32)[..., None])
        scores = tf.concat([stay_score, tf.reshape(grow_score, [batch, -1])], axis=1)
        _, best = tf.math.top_k(scores, k=width)                     # [N, W]
        grown = best >= width
        source = tf.where(grown, (best - width) // size, best)
        c = tf.where(grown, (best - width) % size + 1, 0)
        pick = lambda x: tf.gather(x, source, batch_dims=1)  # noqa: E731
        flat = lambda x: tf.gather(tf.reshape(x, [batch, -1]),  # noqa: E731
                                   tf.maximum(best - width, 0), batch_dims=1)
        length = pick(s["length"])
        new = dict(
            prefix=pick(s["prefix"]) + tf.one_hot(length, steps, dtype=tf.int32) * c[..., None],
            length=length + tf.cast(grown, tf.int32),
            last=tf.where(grown, c, pick(s["last"])),
            hash=tf.where(grown, pick(s["hash"]) * _HASH + tf.cast(c, tf.int64),
                          pick(s["hash"])),
            parent=tf.where(grown, pick(s["hash"]), pick(s["parent"])),
            blank=tf.where(grown, _NEG, pick(stay_blank)),
            char=tf.where(grown, flat(grow), pick(stay_char)),
            lm=tf.where(grown, flat(grow_lm), pick(s["lm"])),
            context=tf.where(grown, lm.extend(pick(s["context"]),
                                              tf.gather(chars, tf.maximum(c - 1, 0))),
                             pick(s["context"])))
        active = (t < frames)[:, None]
        return t + 1, {k: tf.where(active[..., None] if k == "prefix" else active, v, s[k])
                       for k, v in new.items()}

    _, s = tf.while_loop(lambda t, s: t < steps, step, (tf.constant(0), state),
                         parallel_iterations=1)
    end = lm.log_probs(s["context"], tf.constant([EOS]))
    final = (_logaddexp(s["blank"], s["char"]) + lm_weight * (s["lm"] + end[..., 0])
             + length_bonus * tf.cast(s["length"], tf.float32))
    return tf.gather(s["prefix"], tf.argmax(final, axis=1, output_type=tf.int32), batch_dims=1)
