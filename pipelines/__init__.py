"""The task pipelines. Adding one is a folder here plus one line below."""

PIPELINES = {
    "image-classification": "pipelines.image_classification.pipeline:ImageClassificationPipeline",
    "image-segmentation": "pipelines.image_segmentation.pipeline:ImageSegmentationPipeline",
    "forecasting": "pipelines.forecasting.pipeline:ForecastingPipeline",
    "translation": "pipelines.translation.pipeline:TranslationPipeline",
    "document-retrieval": "pipelines.document_retrieval.pipeline:DocumentRetrievalPipeline",
    "speech-to-text": "pipelines.speech_to_text.pipeline:SpeechToTextPipeline",
}
