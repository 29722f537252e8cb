"""Task metrics shared by the pipelines, as Keras metrics or pure functions."""
