"""InputCorruption: the noise of a denoising auto-encoder, applied in training only."""

from __future__ import annotations

import keras
from keras import ops

_KINDS = ("dropout", "masking", "gaussian")


@keras.saving.register_keras_serializable(package="suite")
class InputCorruption(keras.layers.Layer):
    """Corrupts its input while training; passes it through unchanged otherwise.

    `"dropout"` zeroes each value with probability `rate` and scales the rest by
    `1 / (1 - rate)`, so the expected input is the clean one (what inference sees).
    `"masking"` zeroes values the same way without rescaling (the masking noise of
    Vincent et al., 2010). `"gaussian"` adds normal noise of standard deviation `rate`.

    Args:
        kind: `"dropout"`, `"masking"` or `"gaussian"`.
        rate: the share of values zeroed (dropout, masking; < 1) or the noise's standard
            deviation (gaussian); 0 for none.
        seed: the noise's seed, for reproducible training.
        **kwargs: standard layer arguments.

    Example:
        >>> noisy = InputCorruption("masking", 0.5, seed=1)
        >>> noisy(keras.ops.ones((2, 4)), training=False)  # inference: unchanged
    """

    def __init__(self, kind="dropout", rate=0.2, seed=None, **kwargs):
        super().__init__(**kwargs)
        if kind not in _KINDS:
            raise ValueError(f"InputCorruption kind: got {kind!r}, expected one of "
                             f"{', '.join(_KINDS)}")
        limit = float("inf") if kind == "gaussian" else 1.0
        if not 0.0 <= float(rate) < limit:
            raise ValueError(f"InputCorruption rate: got {rate!r}, expected 0 <= rate"
                             + (" < 1" if kind != "gaussian" else ""))
        self.kind = kind
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        if self.kind == "dropout":
            return keras.random.dropout(inputs, self.rate, seed=self.seed_generator)
        if self.kind == "masking":
            keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate
            return ops.where(keep, inputs, ops.zeros_like(inputs))
        noise = keras.random.normal(ops.shape(inputs), stddev=self.rate,
                                    seed=self.seed_generator, dtype=inputs.dtype)
        return inputs + noise

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"kind": self.kind, "rate": self.rate, "seed": self.seed})
        return config
