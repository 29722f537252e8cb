import numpy as np
import pytest

from suite.metrics import retrieval


def test_precision_at_k_and_average_precision_by_hand():
    relevant = np.array([[1, 0, 1, 0, 0, 1],
                         [0, 0, 0, 0, 0, 0],
                         [0, 1, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_allclose(retrieval.precision_at_k(relevant, 1), [1, 0, 0])
    np.testing.assert_allclose(retrieval.precision_at_k(relevant, 3), [2 / 3, 0, 1 / 3])
    ap = retrieval.average_precision(relevant)
    np.testing.assert_allclose(ap[[0, 2]], [(1 + 2 / 3 + 3 / 6) / 3, 1 / 2])
    assert np.isnan(ap[1])
    with pytest.raises(ValueError, match="k: got 7, expected 1 <= k <= 6"):
        retrieval.precision_at_k(relevant, 7)


def test_precision_at_recall_levels_by_hand():
    relevant = np.array([[1, 0, 1, 0, 0, 1]], dtype=bool)  # 3 relevant, at ranks 1, 3, 6
    out = retrieval.precision_at_recall(relevant, (0.001, 1 / 3, 0.5, 2 / 3, 1.0))
    np.testing.assert_allclose(out, [[1.0, 1.0, 2 / 3, 2 / 3, 0.5]])
    with pytest.raises(ValueError, match="levels: got"):
        retrieval.precision_at_recall(relevant, (0.0, 1.0))


def test_rank_finds_the_nearest_by_cosine_and_summarizes():
    index = np.array([[1, 0], [0, 1], [1, 1], [-1, 0], [10, 0.1]], dtype=float)
    index_labels = np.array([0, 1, 0, 1, 0])
    queries = np.array([[2, 0], [-1, -0.2]], dtype=float)
    ids, scores = retrieval.cosine_top_k(queries, index, 3)
    assert ids.tolist() == [[0, 4, 2], [3, 1, 2]]
    np.testing.assert_allclose(scores[:, 0], [1.0, 1 / np.sqrt(1.04)], rtol=1e-6)
    ranked = retrieval.rank(queries, index, np.array([0, 1]), index_labels, k=2)
    assert ranked["relevant"].tolist() == [[True, True], [True, True]]
    np.testing.assert_allclose(ranked["average_precision"], [1.0, 1.0])
    assert retrieval.summarize(ranked, ks=(1, 2)) == {"precision_at_1": 1.0,
                                                      "precision_at_2": 1.0, "map": 1.0}
    ranked = retrieval.rank(queries, index, np.array([1, 0]), index_labels, k=3)
    # query 0 looks for label 1: ranking 0 4 2 1 3 -> hits at ranks 4 and 5
    np.testing.assert_allclose(ranked["average_precision"][0], (1 / 4 + 2 / 5) / 2)
    curve = retrieval.pr_curve(ranked)
    assert [r for r, _ in curve] == list(retrieval.RECALL_LEVELS)
    assert curve[-1][1] == pytest.approx((2 / 5 + 3 / 5) / 2)
    unlabeled = retrieval.rank(queries, index, k=2)
    assert set(unlabeled) == {"top_ids", "top_scores"}


def test_a_zero_query_does_not_divide_by_zero():
    ids, scores = retrieval.cosine_top_k(np.zeros((1, 3)), np.eye(3), 2)
    assert ids.shape == (1, 2) and np.all(scores == 0)


def test_ties_are_not_ranked_in_index_order():
    # every document is equally similar to the query; the relevant ones come first in the
    # index, so index order would give a perfect average precision
    index = np.ones((200, 2))
    labels = np.repeat([0, 1], 100)
    ranked = retrieval.rank(np.ones((1, 2)), index, np.array([0]), labels, k=5)
    assert 0.4 < ranked["average_precision"][0] < 0.65
    assert 0.3 < ranked["pr_precision"][0, -1] <= 0.55
