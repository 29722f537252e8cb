"""The suite: shared Keras building blocks, training, tracking, export and serving."""

__version__ = "0.1.0"
