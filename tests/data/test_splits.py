import numpy as np

from suite.data import fingerprint_arrays, fingerprint_files, stratified_split


def test_split_is_disjoint_complete_stratified_and_seeded():
    labels = np.repeat(np.arange(4), 50)
    idx = stratified_split(labels, 0.1, 0.2, seed=3)
    allidx = np.concatenate(list(idx.values()))
    assert sorted(allidx.tolist()) == list(range(200))
    assert (len(idx["train"]), len(idx["val"]), len(idx["test"])) == (140, 20, 40)
    assert np.bincount(labels[idx["test"]]).tolist() == [10, 10, 10, 10]
    again = stratified_split(labels, 0.1, 0.2, seed=3)
    assert all((idx[k] == again[k]).all() for k in idx)
    other = stratified_split(labels, 0.1, 0.2, seed=4)
    assert not (idx["test"] == other["test"]).all()


def test_limit_keeps_the_class_balance():
    labels = np.repeat(np.arange(5), 100)
    idx = stratified_split(labels, 0.0, 0.25, seed=0, limit=100)
    assert sum(len(v) for v in idx.values()) == 100 and len(idx["val"]) == 0
    assert np.bincount(labels[np.concatenate([idx["train"], idx["test"]])]).tolist() == [20] * 5


def test_fingerprints_change_with_content(tmp_path):
    a = np.arange(6)
    assert fingerprint_arrays(a) == fingerprint_arrays(a.copy())
    assert fingerprint_arrays(a) != fingerprint_arrays(a + 1)
    (tmp_path / "x").write_text("1")
    before = fingerprint_files([tmp_path / "x"], tmp_path)
    (tmp_path / "x").write_text("2")
    assert fingerprint_files([tmp_path / "x"], tmp_path) != before


def test_tiny_limits_fall_back_to_a_random_split():
    labels = np.repeat(np.arange(10), 20)
    idx = stratified_split(labels, 0.1, 0.2, seed=0, limit=30)
    assert sum(len(v) for v in idx.values()) == 30 and len(idx["test"]) == 6
