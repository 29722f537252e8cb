"""A character n-gram language model for CTC decoding: fitted in numpy (interpolated
Witten-Bell smoothing), stored the ARPA way (the probability of every n-gram seen and the
back-off weight of every context seen) in lookup tables, and scored inside the graph so
the exported model decodes with it."""

from __future__ import annotations

import collections
import math

import numpy as np
import tensorflow as tf

BOS, EOS = "^", "$"   # the start padding of a context, and the end of a sentence
_MISSING = 1.0        # what the table answers for an n-gram never seen (log-probs are <= 0)


def fit(texts, alphabet: str, order: int) -> tuple[dict[str, float], dict[str, float]]:
    """An interpolated Witten-Bell character model of `texts`, ARPA-style.

    `p(c | h) = (n(h c) + t(h) p(c | h')) / (n(h) + t(h))`, where `t(h)` is the number of
    distinct characters seen after `h` and `h'` is `h` without its first character; a
    context never seen backs off to `h'` with weight 1. Each sentence is padded with
    `order - 1` start marks and ends with the end mark.

    Args:
        texts: normalised sentences in `alphabet`.
        alphabet: the characters (the end mark is added).
        order: the longest n-gram, context included (2 or more).

    Returns:
        `(ngrams, contexts)`: the natural-log probability of each seen n-gram (context +
        character, as one string, of every order; every character has a unigram) and the
        log back-off weight of each seen context.
    """
    if order < 2:
        raise ValueError(f"character language model order: got {order}, expected >= 2")
    counts = [collections.Counter() for _ in range(order)]  # [k]: (k-character context, c)
    pad = BOS * (order - 1)
    for text in texts:
        s = pad + text + EOS
        for i in range(order - 1, len(s)):
            for k in range(order):
                counts[k][s[i - k:i + 1]] += 1
    symbols = list(alphabet) + [EOS]
    probs: dict[str, float] = {}
    backoff: dict[str, float] = {}
    for k in range(order):
        total, types = collections.Counter(), collections.Counter()
        for gram, n in counts[k].items():
            total[gram[:-1]] += n
            types[gram[:-1]] += 1
        if k == 0:  # every character gets a unigram, seen or not
            for c in symbols:
                counts[0].setdefault(c, 0)
        for gram, n in counts[k].items():
            h, c = gram[:-1], gram[-1]
            lower = _prob(probs, backoff, h[1:], c) if k else 1.0 / len(symbols)
            probs[gram] = (n + types[h] * lower) / (total[h] + types[h])
        for h in total:
            backoff[h] = types[h] / (total[h] + types[h])
    return ({g: math.log(p) for g, p in probs.items()},
            {h: math.log(w) for h, w in backoff.items() if h})


def _prob(probs, backoff, h: str, c: str) -> float:
    weight = 1.0
    while h + c not in probs:
        weight *= backoff.get(h, 1.0)
        h = h[1:]
    return weight * probs[h + c]


def log_prob(ngrams: dict[str, float], contexts: dict[str, float], h: str, c: str) -> float:
    """`log p(c | h)` from the fitted tables (`h` the last `order - 1` characters)."""
    weight = 0.0
    while h + c not in ngrams:
        weight += contexts.get(h, 0.0)
        h = h[1:]
    return weight + ngrams[h + c]


class CharLanguageModel(tf.Module):
    """The fitted tables as TensorFlow lookup tables, scored in the graph.

    A decoder keeps, per hypothesis, its context: the last `order - 1` characters,
    start-padded with `BOS`. `log_probs(contexts, symbols)` gives the log-probability of
    each symbol after each context; `extend` moves a context on by one character.

    Args:
        ngrams, contexts: the tables `fit` returns.
        order: the n-gram order they were fitted with.
    """

    def __init__(self, ngrams: dict[str, float], contexts: dict[str, float], order: int):
        super().__init__(name="char_language_model")
        self.order = int(order)
        self.ngrams = _table(ngrams, _MISSING)
        self.contexts = _table(contexts, 0.0)

    @property
    def start(self) -> str:
        return BOS * (self.order - 1)

    def log_probs(self, contexts: tf.Tensor, symbols: tf.Tensor) -> tf.Tensor:
        """`[...]` contexts x `[S]` symbols -> `[..., S]` natural-log probabilities."""
        width = self.order - 1
        result = tf.zeros(tf.concat([tf.shape(contexts), tf.shape(symbols)], 0))
        found = tf.zeros_like(result, tf.bool)
        weight = tf.zeros_like(result)
        for k in range(width, -1, -1):  # the longest context seen decides; each unseen
            h = tf.strings.substr(contexts, width - k, k)  # longer one adds its back-off
            grams = h[..., None] + symbols  # string addition broadcasts
            p = self.ngrams.lookup(grams)
            here = tf.logical_and(p <= 0.0, tf.logical_not(found))
            result = tf.where(here, weight + p, result)
            found = tf.logical_or(found, here)
            weight += self.contexts.lookup(h)[..., None]
        return result

    def extend(self, contexts: tf.Tensor, characters: tf.Tensor) -> tf.Tensor:
        """Each context moved on by its character (same shapes)."""
        return tf.strings.substr(tf.strings.join([contexts, characters]), 1, self.order - 1)


def _table(values: dict[str, float], default: float) -> tf.lookup.StaticHashTable:
    keys = list(values) or [""]
    vals = np.array([values[k] for k in keys] if values else [default], np.float32)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string), tf.constant(vals)),
        default_value=tf.constant(default, tf.float32))
