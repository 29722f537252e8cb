"""The task pipelines. Adding one is a folder here plus one line below."""

PIPELINES = {
    "image-classification": "pipelines.image_classification.pipeline:ImageClassificationPipeline",
    "forecasting": "pipelines.forecasting.pipeline:ForecastingPipeline",
    "translation": "pipelines.translation.pipeline:TranslationPipeline",
}
