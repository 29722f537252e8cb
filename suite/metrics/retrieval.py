"""Ranked-retrieval metrics: nearest neighbours by cosine similarity, precision@k, average
precision and the precision-recall curve, as pure numpy functions.

A query's relevant documents are the indexed documents with its label. `rank` searches
once and keeps, per query, what every metric needs (the top ids, the average precision and
the precision at each recall level), so the full ranking of a large index is never stored.
"""

from __future__ import annotations

import numpy as np

# Recall levels of the precision-recall curve, doubling as in Hinton & Salakhutdinov (2006).
RECALL_LEVELS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0)


def unit_rows(vectors) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def cosine_top_k(queries, index, k: int, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The `k` most cosine-similar indexed rows of each query, best first.

    Args:
        queries: `[queries, dim]` vectors.
        index: `[documents, dim]` vectors.
        k: how many neighbours (at most the index size).
        batch: queries compared at once.

    Returns:
        `(ids, scores)`, each `[queries, k]`.
    """
    index = unit_rows(index)
    queries = unit_rows(queries)
    k = min(int(k), len(index))
    ids, scores = [], []
    for start in range(0, len(queries), batch):
        sims = queries[start:start + batch] @ index.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(part, order, axis=1)
        ids.append(top)
        scores.append(np.take_along_axis(sims, top, axis=1))
    return np.concatenate(ids), np.concatenate(scores)


def rank(queries, index, query_labels=None, index_labels=None, k: int = 50,
         levels=RECALL_LEVELS, batch: int = 256) -> dict[str, np.ndarray]:
    """Searches the index for every query by cosine similarity and keeps what the metrics
    need.

    Args:
        queries: `[queries, dim]` vectors.
        index: `[documents, dim]` vectors.
        query_labels, index_labels: label ids; without them only the neighbours are kept.
        k: how many neighbours to keep per query.
        levels: the recall levels of the precision-recall curve.
        batch: queries ranked at once.

    Returns:
        `{"top_ids", "top_scores"}` (`[queries, k]`), and with labels
        `{"relevant", "average_precision", "pr_precision"}`: whether each top document
        shares the query's label, each query's average precision over the whole ranking
        and its precision at each recall level (NaN for a query no document shares a
        label with).
    """
    top_ids, top_scores = cosine_top_k(queries, index, k)
    out = {"top_ids": top_ids.astype(np.int32), "top_scores": top_scores.astype(np.float32)}
    if query_labels is None or index_labels is None:
        return out
    query_labels, index_labels = np.asarray(query_labels), np.asarray(index_labels)
    out["relevant"] = index_labels[top_ids] == query_labels[:, None]
    # Documents equally similar to a query (say, sharing no word with it) are ranked in a
    # fixed random order, not in index order, which often groups documents by label.
    shuffle = np.random.default_rng(0).permutation(len(index))
    index_unit, queries_unit = unit_rows(index)[shuffle], unit_rows(queries)
    shuffled_labels = index_labels[shuffle]
    aps, prs = [], []
    for start in range(0, len(queries_unit), batch):
        sims = queries_unit[start:start + batch] @ index_unit.T
        order = np.argsort(-sims, axis=1, kind="stable")
        relevant = shuffled_labels[order] == query_labels[start:start + batch, None]
        aps.append(average_precision(relevant))
        prs.append(precision_at_recall(relevant, levels))
    out["average_precision"] = np.concatenate(aps)
    out["pr_precision"] = np.concatenate(prs)
    return out


def precision_at_k(relevant, k: int) -> np.ndarray:
    """The share of relevant documents among each query's first `k` results.

    Args:
        relevant: `[queries, n]` booleans, results best first (n >= k).
        k: the cut-off.
    """
    relevant = np.asarray(relevant, dtype=bool)
    if not 1 <= int(k) <= relevant.shape[1]:
        raise ValueError(f"precision_at_k k: got {k!r}, expected 1 <= k <= "
                         f"{relevant.shape[1]} (the results given per query)")
    return relevant[:, :k].mean(axis=1)


def average_precision(relevant) -> np.ndarray:
    """Each query's average precision: the mean, over its relevant documents, of the
    precision at the rank of each (NaN for a query with none).

    Args:
        relevant: `[queries, n]` booleans over the whole ranking, best first.
    """
    relevant = np.asarray(relevant, dtype=bool)
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    total = hits[:, -1] if relevant.shape[1] else np.zeros(len(relevant))
    summed = np.sum(np.where(relevant, hits / ranks, 0.0), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, summed / np.maximum(total, 1), np.nan)


def precision_at_recall(relevant, levels=RECALL_LEVELS) -> np.ndarray:
    """Each query's precision at the first rank where its recall reaches each level.

    Args:
        relevant: `[queries, n]` booleans over the whole ranking, best first.
        levels: recall levels in (0, 1].

    Returns:
        `[queries, len(levels)]` (NaN rows for queries with no relevant document).
    """
    relevant = np.asarray(relevant, dtype=bool)
    levels = np.asarray(levels, dtype=np.float64)
    if np.any((levels <= 0) | (levels > 1)):
        raise ValueError(f"precision_at_recall levels: got {levels.tolist()!r}, expected "
                         "values in (0, 1]")
    hits = np.cumsum(relevant, axis=1)
    total = hits[:, -1] if relevant.shape[1] else np.zeros(len(relevant), dtype=int)
    out = np.full((len(relevant), len(levels)), np.nan)
    for q in np.flatnonzero(total > 0):
        needed = np.maximum(1, np.ceil(levels * total[q] - 1e-9)).astype(int)
        ranks = np.searchsorted(hits[q], needed) + 1
        out[q] = needed / ranks
    return out


def summarize(ranked: dict[str, np.ndarray], ks=(1, 10, 50)) -> dict[str, float]:
    """Mean precision@k for each k and mean average precision of `rank`'s output
    (`precision_at_1`, ..., `map`); queries without a relevant document are left out of
    the MAP."""
    metrics = {f"precision_at_{k}": float(precision_at_k(ranked["relevant"], k).mean())
               for k in ks if k <= ranked["relevant"].shape[1]}
    metrics["map"] = float(np.nanmean(ranked["average_precision"]))
    return metrics


def pr_curve(ranked: dict[str, np.ndarray], levels=RECALL_LEVELS) -> list[tuple[float, float]]:
    """`(recall, mean precision)` points of `rank`'s output over queries that have a
    relevant document."""
    return [(float(r), float(p)) for r, p in zip(levels,
                                                 np.nanmean(ranked["pr_precision"], axis=0))]
