"""Greedy and beam search on decoders whose best answers are known."""

import numpy as np
import pytest
import tensorflow as tf

from suite import decoding

PAD, BOS, EOS, A, B = 0, 1, 2, 3, 4


def markov_step(table):
    """A decoder whose next-token distribution depends only on the previous token."""
    logits = tf.math.log(tf.constant(table, tf.float32) + 1e-9)

    def step(ids, state, memory):
        return tf.gather(logits, ids), {"steps": state["steps"] + 1}

    return step


# From BOS: A 0.55, B 0.45. After A: EOS 0.4, A 0.3, B 0.3. After B: EOS 0.99.
# Greedy takes A then EOS (0.55 * 0.4 = 0.22); the best sequence is B EOS (0.4455).
TABLE = np.zeros((5, 5))
TABLE[BOS, [A, B]] = [0.55, 0.45]
TABLE[A, [EOS, A, B]] = [0.4, 0.3, 0.3]
TABLE[B, [EOS, A]] = [0.99, 0.01]
TABLE[[PAD, EOS], EOS] = 1.0


def run(search, batch=2, **kwargs):
    state = {"steps": tf.zeros([batch, 1])}
    memory = {"memory": tf.zeros([batch, 3])}
    return search(markov_step(TABLE), state, memory, BOS, EOS, **kwargs)


def test_greedy_takes_the_locally_best_token():
    tokens = run(decoding.greedy_search, max_length=6).numpy()
    np.testing.assert_array_equal(tokens, [[A, EOS], [A, EOS]])


def test_beam_search_finds_the_better_sequence():
    tokens, score = run(decoding.beam_search, max_length=6, beam_width=2)
    np.testing.assert_array_equal(tokens.numpy()[:, :3], [[B, EOS, PAD]] * 2)
    np.testing.assert_allclose(score.numpy(), np.log(0.45 * 0.99), rtol=1e-4)


def test_beam_width_one_is_greedy():
    tokens, _ = run(decoding.beam_search, max_length=6, beam_width=1)
    greedy = run(decoding.greedy_search, max_length=6).numpy()
    np.testing.assert_array_equal(tokens.numpy()[:, :greedy.shape[1]], greedy)
    assert np.all(tokens.numpy()[:, greedy.shape[1]:] == PAD)


def test_length_penalty_favours_longer_output():
    # After A, EOS (0.36) barely beats going on; A A ... EOS is long but each step likely.
    table = np.zeros((5, 5))
    table[BOS, A] = 1.0
    table[A, [EOS, A]] = [0.36, 0.34]
    table[A, B] = 0.30
    table[B, EOS] = 1.0
    table[[PAD, EOS], EOS] = 1.0
    state, memory = {"steps": tf.zeros([1, 1])}, {"m": tf.zeros([1, 1])}
    plain, _ = decoding.beam_search(markov_step(table), state, memory, BOS, EOS, 8, 3, 0.0)
    longer, _ = decoding.beam_search(markov_step(table), state, memory, BOS, EOS, 8, 3, 2.0)
    assert list(plain.numpy()[0, :2]) == [A, EOS]
    assert int((longer.numpy()[0] != PAD).sum()) > 2


def test_search_stops_at_max_length_without_an_end_token():
    table = np.zeros((5, 5))
    table[:, A] = 1.0  # never ends
    state, memory = {"steps": tf.zeros([1, 1])}, {"m": tf.zeros([1, 1])}
    greedy = decoding.greedy_search(markov_step(table), state, memory, BOS, EOS, 4)
    beam, _ = decoding.beam_search(markov_step(table), state, memory, BOS, EOS, 4, 2)
    np.testing.assert_array_equal(greedy.numpy(), [[A] * 4])
    np.testing.assert_array_equal(beam.numpy(), [[A] * 4])


def test_empty_batch():
    tokens = run(decoding.greedy_search, batch=0, max_length=4)
    beam, score = run(decoding.beam_search, batch=0, max_length=4, beam_width=3)
    assert tokens.shape[0] == 0 and beam.shape == (0, 4) and score.shape == (0,)


def test_trim_cuts_at_the_first_end_token():
    trimmed = decoding.trim(tf.constant([[5, 6, EOS, PAD], [7, 8, 9, 10], [EOS, 0, 0, 0]]), EOS)
    assert trimmed.to_list() == [[5, 6], [7, 8, 9, 10], []]


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="beam_width: got 0"):
        run(decoding.beam_search, max_length=4, beam_width=0)
    with pytest.raises(ValueError, match="length_penalty: got -1"):
        run(decoding.beam_search, max_length=4, beam_width=2, length_penalty=-1)
