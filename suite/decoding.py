"""In-graph sequence search for autoregressive decoders: greedy and beam search.

Both run as a `tf.while_loop`, so they trace into an exported SavedModel, and stop as soon
as every sequence has produced the end token. A decoder is given as a step function

    step_fn(ids, state, memory) -> (logits, state)

where `ids` is `[n]` int32 (the previous token of each sequence), `state` a nested
structure of `[n, ...]` tensors the search reorders along with the beams, `memory` a
nested structure of `[n, ...]` tensors that stays fixed (e.g. encoder outputs), and
`logits` is `[n, vocabulary]`.
"""

from __future__ import annotations

import tensorflow as tf

NEG_INF = -1e9


def greedy_search(step_fn, state, memory, start_id: int, end_id: int, max_length,
                  pad_id: int = 0) -> tf.Tensor:
    """The most likely next token at every step.

    Args:
        step_fn: the decoder step (see the module docstring).
        state: the initial decoder state, `[batch, ...]` tensors.
        memory: fixed inputs of every step, `[batch, ...]` tensors.
        start_id: the token fed at the first step.
        end_id: the token that ends a sequence (kept in the output).
        max_length: the most tokens generated per sequence.
        pad_id: written after a sequence has ended.

    Returns:
        `[batch, steps]` int32 tokens, `pad_id` after each sequence's end token.
    """
    batch = tf.shape(tf.nest.flatten(memory)[0])[0]
    ids = tf.fill([batch], tf.constant(start_id, tf.int32))
    finished = tf.zeros([batch], tf.bool)
    tokens = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None])

    def cond(t, ids, state, finished, tokens):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(t, ids, state, finished, tokens):
        logits, state = step_fn(ids, state, memory)
        next_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        next_ids = tf.where(finished, pad_id, next_ids)
        finished = tf.logical_or(finished, tf.equal(next_ids, end_id))
        return t + 1, next_ids, state, finished, tokens.write(t, next_ids)

    loop_vars = (0, ids, state, finished, tokens)
    _, _, _, _, tokens = tf.while_loop(cond, body, loop_vars,
                                       shape_invariants=_any_batch(loop_vars))
    return tf.reshape(tf.transpose(tokens.stack()), [batch, -1])


def beam_search(step_fn, state, memory, start_id: int, end_id: int, max_length,
                beam_width: int, length_penalty: float = 0.0, pad_id: int = 0):
    """Keeps the `beam_width` best partial sequences per input at every step.

    Sequences are ranked by their summed log-probability divided by the GNMT length
    penalty `((5 + length) / 6) ** length_penalty` (Wu et al., 2016); 0 ranks by the
    plain sum, larger values favour longer outputs. A finished sequence keeps competing
    for a slot (the search ends when every slot holds one), and the best sequence that
    ever finished is kept apart, so a later, worse one cannot displace it. Only when no
    sequence finishes within `max_length` is the best unfinished one returned. At
    `beam_width=1` the result is the greedy one.

    Args:
        step_fn: the decoder step (see the module docstring).
        state: the initial decoder state, `[batch, ...]` tensors.
        memory: fixed inputs of every step, `[batch, ...]` tensors.
        start_id: the token fed at the first step.
        end_id: the token that ends a sequence (kept in the output).
        max_length: the most tokens generated per sequence (a Python int).
        beam_width: the number of sequences kept per input.
        length_penalty: the exponent of the length normalisation (>= 0).
        pad_id: written after a sequence has ended.

    Returns:
        `(tokens, score)`: the best sequence per input, `[batch, max_length]` int32 with
        `pad_id` after its end token, and its normalised log-probability `[batch]`.
    """
    if int(beam_width) < 1:
        raise ValueError(f"beam_width: got {beam_width!r}, expected an integer >= 1")
    if float(length_penalty) < 0:
        raise ValueError(f"length_penalty: got {length_penalty!r}, expected >= 0")
    k, max_length = int(beam_width), int(max_length)
    batch = tf.shape(tf.nest.flatten(memory)[0])[0]
    tile = lambda x: tf.repeat(x, k, axis=0)  # noqa: E731  [batch, ...] -> [batch * k, ...]
    state, memory = tf.nest.map_structure(tile, state), tf.nest.map_structure(tile, memory)

    def penalty(length):
        return ((5.0 + tf.cast(length, tf.float32)) / 6.0) ** length_penalty

    ids = tf.fill([batch * k], tf.constant(start_id, tf.int32))
    # all beams start identical: only the first may expand at step one
    scores = tf.tile(tf.constant([[0.0] + [NEG_INF] * (k - 1)]), [batch, 1])
    lengths = tf.zeros([batch, k], tf.int32)
    finished = tf.zeros([batch, k], tf.bool)
    sequences = tf.fill([batch, k, max_length], tf.constant(pad_id, tf.int32))
    positions = tf.range(max_length)
    offsets = tf.range(batch)[:, None] * k
    best_score = tf.fill([batch], float("-inf"))
    best_sequence = tf.fill([batch, max_length], tf.constant(pad_id, tf.int32))

    def cond(t, ids, state, scores, lengths, finished, sequences, best_score, best_sequence):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(t, ids, state, scores, lengths, finished, sequences, best_score, best_sequence):
        logits, state = step_fn(ids, state, memory)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        vocabulary = tf.shape(log_probs)[-1]
        log_probs = tf.reshape(log_probs, [batch, k, vocabulary])
        # a finished beam continues only with padding, at no cost
        pad_only = tf.where(tf.range(vocabulary) == pad_id, 0.0, NEG_INF)
        log_probs = tf.where(finished[..., None], pad_only, log_probs)
        candidates = scores[..., None] + log_probs                      # [batch, k, vocab]
        new_lengths = tf.where(finished, lengths, lengths + 1)
        ranked = candidates / penalty(new_lengths)[..., None]
        _, best = tf.math.top_k(tf.reshape(ranked, [batch, -1]), k=k)  # [batch, k]
        parent, token = best // vocabulary, best % vocabulary
        scores = tf.gather(tf.reshape(candidates, [batch, -1]), best, batch_dims=1)
        lengths = tf.gather(new_lengths, parent, batch_dims=1)
        finished = tf.gather(finished, parent, batch_dims=1)
        token = tf.where(finished, pad_id, token)
        ended = tf.equal(token, end_id)                       # finished at this step
        finished = tf.logical_or(finished, ended)
        sequences = tf.gather(sequences, parent, batch_dims=1)
        sequences = tf.where(positions == t, token[..., None], sequences)
        rows = tf.reshape(parent + offsets, [-1])
        state = tf.nest.map_structure(lambda s: tf.gather(s, rows), state)
        # remember the best sequence that has ever finished
        ended_scores = tf.where(ended, scores / penalty(lengths), float("-inf"))
        top = tf.argmax(ended_scores, axis=-1, output_type=tf.int32)
        top_score = tf.reduce_max(ended_scores, axis=-1)
        better = top_score > best_score
        best_score = tf.where(better, top_score, best_score)
        best_sequence = tf.where(better[:, None],
                                 tf.gather(sequences, top, batch_dims=1), best_sequence)
        return (t + 1, tf.reshape(token, [-1]), state, scores, lengths, finished, sequences,
                best_score, best_sequence)

    loop_vars = (0, ids, state, scores, lengths, finished, sequences, best_score,
                 best_sequence)
    _, _, _, scores, lengths, _, sequences, best_score, best_sequence = tf.while_loop(
        cond, body, loop_vars, shape_invariants=_any_batch(loop_vars))
    # no sequence finished: the best unfinished one
    normalised = scores / penalty(tf.maximum(lengths, 1))
    alive = tf.argmax(normalised, axis=-1, output_type=tf.int32)
    any_finished = tf.math.is_finite(best_score)
    return (tf.where(any_finished[:, None], best_sequence,
                     tf.gather(sequences, alive, batch_dims=1)),
            tf.where(any_finished, best_score, tf.gather(normalised, alive, batch_dims=1)))


def _any_batch(loop_vars):
    """Loop shapes with the leading (batch) dimension left open: a batch size known when
    tracing must not fix the shapes the gathers inside the loop leave unknown."""

    def loose(x):
        if isinstance(x, tf.TensorArray):
            return tf.TensorShape(None)
        shape = tf.TensorShape(getattr(x, "shape", []))
        return shape if shape.rank in (None, 0) else tf.TensorShape([None] + shape[1:])

    return tf.nest.map_structure(loose, loop_vars)


def trim(tokens: tf.Tensor, end_id: int) -> tf.RaggedTensor:
    """Each row of `[batch, steps]` tokens up to (not including) its first `end_id`."""
    is_end = tf.equal(tokens, end_id)
    first_end = tf.where(tf.reduce_any(is_end, axis=-1),
                         tf.argmax(tf.cast(is_end, tf.int32), axis=-1, output_type=tf.int32),
                         tf.shape(tokens, out_type=tf.int32)[-1])
    return tf.RaggedTensor.from_tensor(tokens, lengths=first_end)
