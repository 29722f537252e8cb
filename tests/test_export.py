import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from suite import export


def _archive(scale: float = 1.0):
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.set_weights([np.full((3, 2), scale, "float32"), np.zeros(2, "float32")])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", lambda x: {"y": model(x)},
                         input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    return archive


def _listing(model_dir):
    return sorted(p.name for p in model_dir.iterdir())


def test_versions_grow_and_manifest_is_written(tmp_path):
    first = export.export(_archive(), tmp_path, "toy", {"metrics": {"test_x": 1.0}})
    second = export.export(_archive(2.0), tmp_path, "toy", {})
    assert (first.name, second.name) == ("1", "2")
    assert export.versions(tmp_path / "toy") == [1, 2]
    assert export.latest(tmp_path / "toy") == second
    manifest = export.read_manifest(first)
    assert manifest["version"] == 1 and manifest["metrics"] == {"test_x": 1.0}
    loaded = tf.saved_model.load(str(second))
    y = loaded.signatures["serving_default"](x=tf.ones((1, 3)))["y"].numpy()
    np.testing.assert_allclose(y, [[6.0, 6.0]])
    assert _listing(tmp_path / "toy") == [".last_version", "1", "2"]


def test_deleted_newest_version_number_is_not_reused(tmp_path):
    export.export(_archive(), tmp_path, "toy", {})
    second = export.export(_archive(), tmp_path, "toy", {})
    tf.io.gfile.rmtree(str(second))
    assert export.export(_archive(), tmp_path, "toy", {}).name == "3"


class _FailingArchive:
    """Writes a real SavedModel, then fails like a full disk would, mid-export."""

    def __init__(self):
        self.archive = _archive(3.0)

    def write_out(self, path, verbose=False):
        self.archive.write_out(path, verbose=verbose)
        raise OSError(28, "No space left on device")


def test_failure_mid_export_leaves_no_version_and_keeps_the_previous(tmp_path):
    good = export.export(_archive(), tmp_path, "toy", {"note": "good"})
    before = {p: p.stat().st_mtime for p in good.rglob("*")}
    with pytest.raises(export.ExportError, match="No space left.*no new version was written"):
        export.export(_FailingArchive(), tmp_path, "toy", {})
    assert _listing(tmp_path / "toy") == [".last_version", "1"]
    assert {p: p.stat().st_mtime for p in good.rglob("*")} == before
    assert export.read_manifest(good)["note"] == "good"


def test_failure_at_the_rename_leaves_nothing_half_written(tmp_path, monkeypatch):
    export.export(_archive(), tmp_path, "toy", {})

    def broken_rename(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(export.os, "rename", broken_rename)
    with pytest.raises(export.ExportError, match="Permission denied"):
        export.export(_archive(), tmp_path, "toy", {})
    assert _listing(tmp_path / "toy") == [".last_version", "1"]


def test_a_version_taken_concurrently_moves_to_the_next_number(tmp_path, monkeypatch):
    export.export(_archive(), tmp_path, "toy", {})
    real_rename = os.rename

    def racing_rename(src, dst):
        if str(dst).endswith("/2") and not (tmp_path / "toy" / "2").exists():
            (tmp_path / "toy" / "2").mkdir()            # another writer took "2" first
            (tmp_path / "toy" / "2" / "saved_model.pb").write_bytes(b"x")
        return real_rename(src, dst)

    monkeypatch.setattr(export.os, "rename", racing_rename)
    third = export.export(_archive(), tmp_path, "toy", {})
    assert third.name == "3"
    assert json.loads((third / "suite.json").read_text())["version"] == 3
    # the other writer's version survives, untouched, and nothing is left half-written
    assert _listing(tmp_path / "toy") == [".last_version", "1", "2", "3"]
    assert _listing(tmp_path / "toy" / "2") == ["saved_model.pb"]
    assert (tmp_path / "toy" / "2" / "saved_model.pb").read_bytes() == b"x"


def test_latest_without_models_is_a_clear_error(tmp_path):
    with pytest.raises(export.ExportError, match="no exported model under .*run `suite run`"):
        export.latest(tmp_path / "nothing")


def test_manifest_signatures_come_from_the_saved_model(tmp_path):
    version = export.export(_archive(), tmp_path, "toy", {},
                            {"serving_default": {"inputs": {"x": {"kind": "features"}},
                                                 "outputs": {"y": {"description": "scores"}}}})
    manifest = export.read_manifest(version)
    assert manifest["signatures"] == {"serving_default": {
        "inputs": {"x": {"dtype": "float32", "shape": [None, 3], "kind": "features"}},
        "outputs": {"y": {"dtype": "float32", "shape": [None, 2], "description": "scores"}}}}
    assert manifest["inputs"] == manifest["signatures"]["serving_default"]["inputs"]


def test_describing_a_tensor_the_model_lacks_writes_no_version(tmp_path):
    with pytest.raises(export.ExportError, match=r"describes input 'images' of signature "
                                                 r"'serving_default', which the exported "
                                                 r"model does not have"):
        export.export(_archive(), tmp_path, "toy", {},
                      {"serving_default": {"inputs": {"images": {"kind": "encoded_image"}}}})
    assert _listing(tmp_path / "toy") == []  # no version, no temporary directory left


def test_an_unreadable_saved_model_is_a_named_error(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(export.ExportError, match="cannot read the SavedModel"):
        export.read_signatures(tmp_path)
