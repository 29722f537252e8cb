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


def recurrent_step(vocabulary=5, width=3, seed=0):
    """A decoder whose next token depends on its whole history (through its state) and on
    its input (through the memory), so beam bookkeeping errors change the answer."""
    rng = np.random.default_rng(seed)
    w = tf.constant(rng.normal(size=(width, width)), tf.float32)
    e = tf.constant(rng.normal(size=(vocabulary, width)), tf.float32)
    u = tf.constant(2.0 * rng.normal(size=(width, vocabulary)), tf.float32)

    def step(ids, state, memory):
        h = tf.tanh(state["h"] @ w + tf.gather(e, ids))
        return h @ u + memory["bias"], {"h": h}

    return step


def brute_force(step, state, memory, max_length, length_penalty):
    """The best sequence of each input by scoring every possible sequence."""
    vocabulary = int(memory["bias"].shape[-1])
    best = []
    for row in range(int(memory["bias"].shape[0])):
        one_state = {"h": state["h"][row:row + 1]}
        one_memory = {"bias": memory["bias"][row:row + 1]}
        winner, winner_score = None, -np.inf
        frontier = [((), 0.0, one_state)]
        for t in range(max_length):
            grown = []
            for tokens, score, s in frontier:
                ids = tf.constant([tokens[-1] if tokens else BOS])
                logits, s2 = step(ids, s, one_memory)
                log_probs = tf.nn.log_softmax(logits)[0].numpy()
                for v in range(vocabulary):
                    seq, total = tokens + (v,), score + float(log_probs[v])
                    if v == EOS or t == max_length - 1:
                        norm = total / ((5.0 + len(seq)) / 6.0) ** length_penalty
                        if v == EOS and norm > winner_score:
                            winner, winner_score = seq, norm
                    if v != EOS:
                        grown.append((seq, total, s2))
            frontier = grown
        best.append(list(winner))
    return best


@pytest.mark.parametrize("length_penalty", [0.0, 0.6])
def test_wide_beam_search_equals_exhaustive_search(length_penalty):
    step = recurrent_step()
    rng = np.random.default_rng(1)
    state = {"h": tf.constant(rng.normal(size=(3, 3)), tf.float32)}
    memory = {"bias": tf.constant(rng.normal(size=(3, 5)), tf.float32)}
    tokens, _ = decoding.beam_search(step, state, memory, BOS, EOS, 3, 125, length_penalty)
    got = [list(row) for row in decoding.trim(tokens, EOS).to_list()]
    expected = [seq[:-1] for seq in brute_force(step, state, memory, 3, length_penalty)]
    assert got == expected


def test_a_finished_sequence_is_not_displaced_by_a_worse_later_one():
    # Step one: EOS 0.25, A 0.75. After A or B: A 0.45, B 0.45, EOS 0.1. At step two
    # [A, A] and [A, B] (0.34 each) push [EOS] (0.25) out of a width-2 beam, but every
    # sequence that finishes later is far worse, so [EOS] is still the answer.
    table = np.full((5, 5), 1e-9)
    table[[A, B]] = [1e-9, 1e-9, 0.1, 0.45, 0.45]
    table[[PAD, EOS], EOS] = 1.0
    table[BOS, [EOS, A]] = [0.25, 0.75]
    state, memory = {"steps": tf.zeros([1, 1])}, {"m": tf.zeros([1, 1])}
    tokens, score = decoding.beam_search(markov_step(table), state, memory, BOS, EOS, 4, 2)
    assert list(tokens.numpy()[0, :1]) == [EOS]
    np.testing.assert_allclose(score.numpy(), np.log(0.25), rtol=1e-4)
