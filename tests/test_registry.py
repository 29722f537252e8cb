import pytest

from suite import registry
from suite.pipeline import Pipeline
from pipelines.image_classification.pipeline import ImageClassificationPipeline


def test_builtin_lookup():
    assert "image-classification" in registry.names()
    assert registry.get("image-classification") is ImageClassificationPipeline


def test_unknown_name_lists_known_ones():
    with pytest.raises(registry.UnknownPipelineError) as e:
        registry.get("image-clasification")
    assert "unknown pipeline 'image-clasification'" in str(e.value)
    assert "image-classification" in str(e.value)


def test_register_a_new_pipeline(monkeypatch):
    monkeypatch.setattr(registry, "_classes", dict(registry._classes))

    @registry.register
    class Toy(Pipeline):
        name = "toy"

    assert registry.get("toy") is Toy
    assert registry.names()[-1] == "toy"
