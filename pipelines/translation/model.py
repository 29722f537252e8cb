"""The encoder-decoder translator, its subword tokenizers and its batches.

The attention model and the no-attention baseline are the same `Translator`; only
`attention` differs. The decoder LSTM reads the whole target at once under teacher
forcing, and attention is computed from its outputs (Luong et al.'s arrangement), so a
training step is a few large matrix products instead of a Python-level loop over target
steps; the scores are additive (Bahdanau) or multiplicative (Luong) by config.
"""

from __future__ import annotations

import io

import keras
import numpy as np
import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text
from keras import ops

from suite.blocks import BahdanauAttention, LuongAttention, RecurrentEncoder

PAD, UNK, BOS, EOS = 0, 1, 2, 3  # the ids compute_sentence_piece_proto reserves


def train_tokenizer(texts, vocabulary_size: int) -> bytes:
    """A SentencePiece (unigram) model learned from `texts`, as the serialized proto.

    SentencePiece keeps the spaces as part of the pieces, so detokenizing gives back the
    normalised text exactly: placeholders such as `%s` or `%(name)s` come back intact.
    On a corpus too small for `vocabulary_size` pieces the vocabulary is smaller.

    Args:
        texts: training sentences.
        vocabulary_size: the most pieces, the four special ids included.
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)), model_writer=model,
        vocab_size=int(vocabulary_size), hard_vocab_limit=False, model_type="unigram",
        character_coverage=1.0, normalization_rule_name="nmt_nfkc",
        pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS, minloglevel=2, num_threads=2,
    )
    return model.getvalue()


def load_tokenizer(proto: bytes, name: str) -> tf_text.SentencepieceTokenizer:
    """The in-graph tokenizer (and detokenizer) of a SentencePiece proto.

    Args:
        proto: the serialized model from `train_tokenizer`.
        name: a name unique within one export. tensorflow-text's SentencePiece model is a
            resource owned by the op kernel and keyed by the op's name, so two tokenizers
            created under the same name share one model when a SavedModel is restored.

    Load it where it is used: `tf.random.set_seed` (which every `Trainer.fit` calls)
    clears the eager kernel cache, and with it the model of a tokenizer loaded earlier
    ("Resource ... SentencepieceOp ... does not exist").
    """
    return tf_text.SentencepieceTokenizer(model=proto, out_type=tf.int32, name=name)


def tokenize(tokenizer, texts) -> tf.RaggedTensor:
    """Token ids of many sentences at once, as a ragged `[n, None]` int32 tensor."""
    return tokenizer.tokenize(tf.constant(list(texts), tf.string, shape=[len(texts)]))


@keras.saving.register_keras_serializable(package="translation")
class Translator(keras.Model):
    """A deep bidirectional LSTM encoder and an LSTM decoder, with or without attention.

    The decoder starts from the encoder's final states (both directions, through a
    `tanh` bridge). With attention, every decoder output attends over all encoder outputs
    and the context joins the output before the softmax; without it (`attention=None`,
    the baseline of Bahdanau et al., 2014), the final states are all the decoder sees.

    Args:
        source_vocabulary, target_vocabulary: the tokenizers' vocabulary sizes.
        embedding_dim: the width of the token embeddings.
        encoder_units: the width of each encoder LSTM, per direction.
        encoder_depth: the number of stacked bidirectional LSTM layers.
        decoder_units: the width of the decoder LSTM.
        attention: `"bahdanau"`, `"luong"` or `None`.
        attention_units: the width of the Bahdanau scoring layer.
        dropout: dropout on the embeddings, encoder inputs and decoder outputs.
        **kwargs: standard model arguments.

    Call arguments:
        inputs: `{"source": [batch, source_steps], "target_in": [batch, target_steps]}`
            int32 ids, 0-padded; `target_in` starts with the BOS id.

    Returns:
        `[batch, target_steps, target_vocabulary]` logits of the next target token.
    """

    def __init__(self, source_vocabulary, target_vocabulary, embedding_dim=128,
                 encoder_units=128, encoder_depth=2, decoder_units=256, attention="bahdanau",
                 attention_units=128, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if attention not in ("bahdanau", "luong", None):
            raise ValueError(f"Translator attention: got {attention!r}, expected 'bahdanau', "
                             "'luong' or None")
        self.source_vocabulary = int(source_vocabulary)
        self.target_vocabulary = int(target_vocabulary)
        self.embedding_dim = int(embedding_dim)
        self.encoder_units = int(encoder_units)
        self.encoder_depth = int(encoder_depth)
        self.decoder_units = int(decoder_units)
        self.attention = attention
        self.attention_units = int(attention_units)
        self.dropout = float(dropout)

        self.source_embedding = keras.layers.Embedding(source_vocabulary, embedding_dim,
                                                       name="source_embedding")
        self.target_embedding = keras.layers.Embedding(target_vocabulary, embedding_dim,
                                                       name="target_embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.encoder = RecurrentEncoder(encoder_units, depth=encoder_depth, cell="lstm",
                                        dropout=dropout, bidirectional=True,
                                        return_sequences=True, return_state=True,
                                        name="encoder")
        self.bridge_h = keras.layers.Dense(decoder_units, activation="tanh", name="bridge_h")
        self.bridge_c = keras.layers.Dense(decoder_units, activation="tanh", name="bridge_c")
        self.decoder = keras.layers.LSTM(decoder_units, return_sequences=True,
                                         return_state=True, name="decoder")
        if attention == "bahdanau":
            self.attention_layer = BahdanauAttention(attention_units, name="attention")
        elif attention == "luong":
            self.attention_layer = LuongAttention(name="attention")
        else:
            self.attention_layer = None
        self.combine = keras.layers.Dense(decoder_units, activation="tanh", name="combine")
        self.output_dropout = keras.layers.Dropout(dropout)
        self.logits = keras.layers.Dense(target_vocabulary, dtype="float32", name="logits")

    def encode(self, source, training=False):
        """`(memory, source_mask, state)`: encoder outputs, `source != PAD`, decoder start."""
        mask = ops.not_equal(source, PAD)
        x = self.embedding_dropout(self.source_embedding(source), training=training)
        memory, (h, c) = self.encoder(x, mask=mask, training=training)
        return memory, mask, [self.bridge_h(h), self.bridge_c(c)]

    def decode(self, target_in, memory, mask, state, training=False):
        """`(logits, attention_weights or None, state)` for teacher-forced target ids."""
        y = self.embedding_dropout(self.target_embedding(target_in), training=training)
        # Right padding follows the real steps, so it never reaches them: no mask needed.
        outputs, h, c = self.decoder(y, initial_state=state, training=training)
        weights = None
        if self.attention_layer is not None:
            context, weights = self.attention_layer(outputs, memory, value_mask=mask)
            outputs = ops.concatenate([outputs, context], axis=-1)
        hidden = self.output_dropout(self.combine(outputs), training=training)
        return self.logits(hidden), weights, [h, c]

    def step(self, ids, state, memory):
        """One decoding step for `suite.decoding`: `ids` [n] -> (logits [n, vocab], state)."""
        logits, _, state = self.decode(ids[:, None], memory["memory"], memory["mask"], state)
        return logits[:, 0], state

    def call(self, inputs, training=False):
        memory, mask, state = self.encode(inputs["source"], training=training)
        logits, _, _ = self.decode(inputs["target_in"], memory, mask, state, training=training)
        return logits

    def get_config(self):
        config = super().get_config()
        config.update({
            "source_vocabulary": self.source_vocabulary,
            "target_vocabulary": self.target_vocabulary,
            "embedding_dim": self.embedding_dim, "encoder_units": self.encoder_units,
            "encoder_depth": self.encoder_depth, "decoder_units": self.decoder_units,
            "attention": self.attention, "attention_units": self.attention_units,
            "dropout": self.dropout,
        })
        return config


def examples(source_ids: tf.RaggedTensor, target_ids: tf.RaggedTensor,
             max_tokens: int) -> tf.data.Dataset:
    """Teacher-forcing examples `({"source", "target_in"}, target_out)`, unpadded.

    `target_in` is BOS + target and `target_out` is target + EOS. A pair whose source is
    longer than `max_tokens` pieces, or whose target with its end token is, is left out:
    cutting it would teach the model a translation that stops mid-sentence.
    """
    keep = ((source_ids.row_lengths() <= max_tokens)
            & (target_ids.row_lengths() + 1 <= max_tokens))
    source = tf.ragged.boolean_mask(source_ids, keep)
    target_ids = tf.ragged.boolean_mask(target_ids, keep)
    bos = tf.fill([target_ids.nrows(), 1], BOS)
    eos = tf.fill([target_ids.nrows(), 1], EOS)
    target_in = tf.concat([bos, target_ids], axis=1)
    target_out = tf.concat([target_ids, eos], axis=1)
    ds = tf.data.Dataset.from_tensor_slices((source, target_in, target_out))
    return ds.map(lambda s, ti, to: ({"source": s, "target_in": ti}, to))


def bucketed_batches(bucket_width: int, max_tokens: int):
    """A batching function for `Trainer.fit`: pairs of similar length padded together.

    Sentences are grouped by their longer side into buckets `bucket_width` pieces wide,
    so a batch of short sentences is not padded to the longest one in the corpus. The
    number of batches per epoch does not depend on the order, so it is counted once and
    declared (Keras then shows a progress bar with a total).
    """
    boundaries = list(range(bucket_width + 1, max_tokens + 1, bucket_width))

    def length(x, y):
        return tf.maximum(tf.shape(x["source"])[0], tf.shape(y)[0])

    def batch(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
        lengths = np.fromiter(ds.map(length).as_numpy_iterator(), dtype=np.int64)
        per_bucket = np.bincount(np.searchsorted(boundaries, lengths, side="right"),
                                 minlength=len(boundaries) + 1)
        batches = int(np.sum(-(-per_bucket // batch_size)))
        batched = ds.bucket_by_sequence_length(
            length, bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1))
        return batched.apply(tf.data.experimental.assert_cardinality(batches))

    return batch
