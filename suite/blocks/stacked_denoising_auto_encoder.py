"""StackedDenoisingAutoEncoder: a deep dense auto-encoder with a linear code, trained to
reconstruct its input from a corrupted copy, with greedy layer-wise pre-training stages."""

from __future__ import annotations

import keras

from suite.blocks.input_corruption import InputCorruption

_OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear", "relu")


@keras.saving.register_keras_serializable(package="suite")
class StackedDenoisingAutoEncoder(keras.layers.Layer):
    """Corruption -> dense encoder -> linear code -> mirrored dense decoder.

    `input -> corruption -> hidden[0] -> ... -> hidden[-1] -> code (code_dim, linear)
    -> hidden[-1] -> ... -> hidden[0] -> output (the input's width)`. The corruption (and
    the optional noise on the code) acts in training only, so a trained encoder maps the
    clean input to its code (Vincent et al., 2010; Hinton & Salakhutdinov, 2006).

    Greedy layer-wise pre-training trains each encoder layer with its mirror image in the
    decoder as a one-layer denoising auto-encoder of the clean representation below it:
    `stage_model(depth)` builds that model (sharing this block's weights) and
    `representation(inputs, depth)` gives its clean input. Stage 0 reconstructs the input
    through the output layer; the others reconstruct hidden activations.

    Args:
        hidden: the encoder's hidden widths, input side first; the decoder mirrors them.
        code_dim: the width of the linear code.
        activation: the hidden layers' activation.
        corruption: `"dropout"`, `"masking"` or `"gaussian"` (see `InputCorruption`).
        corruption_rate: the corruption's rate (0 for a plain auto-encoder).
        code_noise: the standard deviation of Gaussian noise added to the code in
            training (0 for none); it pushes codes apart.
        output_activation: the output layer's activation: `"softmax"` for word
            proportions, `"sigmoid"` for values in [0, 1], `"linear"` or `"relu"`.
        seed: the corruption's seed.
        **kwargs: standard layer arguments.

    Call arguments:
        inputs: `[batch, features]`.
        training: corrupt the input (and the code) when true.

    Returns:
        The reconstruction, `[batch, features]`, in float32.

    Example:
        >>> sdae = StackedDenoisingAutoEncoder(hidden=(16, 8), code_dim=2)
        >>> sdae(keras.ops.ones((3, 20))).shape
        (3, 20)
        >>> sdae.encode(keras.ops.ones((3, 20))).shape
        (3, 2)
    """

    def __init__(self, hidden=(500, 250, 125), code_dim=10, activation="relu",
                 corruption="dropout", corruption_rate=0.2, code_noise=0.0,
                 output_activation="softmax", seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(code_dim) < 1:
            raise ValueError(f"StackedDenoisingAutoEncoder code_dim: got {code_dim!r}, "
                             "expected an integer >= 1")
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"StackedDenoisingAutoEncoder hidden: got {hidden!r}, expected "
                             "widths >= 1")
        if output_activation not in _OUTPUT_ACTIVATIONS:
            raise ValueError(f"StackedDenoisingAutoEncoder output_activation: got "
                             f"{output_activation!r}, expected one of "
                             f"{', '.join(_OUTPUT_ACTIVATIONS)}")
        if not float(code_noise) >= 0.0:
            raise ValueError(f"StackedDenoisingAutoEncoder code_noise: got {code_noise!r}, "
                             "expected >= 0")
        self.hidden = tuple(int(h) for h in hidden)
        self.code_dim = int(code_dim)
        self.activation = activation
        self.corruption = corruption
        self.corruption_rate = float(corruption_rate)
        self.code_noise = float(code_noise)
        self.output_activation = output_activation
        self.seed = seed
        self.corrupt = InputCorruption(corruption, corruption_rate, seed=seed,
                                       name="corruption")
        self.code_corruption = InputCorruption(
            "gaussian", self.code_noise, seed=None if seed is None else seed + 1,
            name="code_noise")

    @property
    def depth(self) -> int:
        """The number of encoder layers (the code layer included): pre-training stages."""
        return len(self.hidden) + 1

    def build(self, input_shape):
        features = int(input_shape[-1])
        self.features = features
        widths = [features, *self.hidden, self.code_dim]
        self.encoder_layers = []
        for i, units in enumerate(widths[1:]):
            code = i == len(self.hidden)
            dense = keras.layers.Dense(units, activation=None if code else self.activation,
                                       dtype=self.dtype_policy,
                                       name="code" if code else f"encoder_{i}")
            dense.build((None, widths[i]))
            self.encoder_layers.append(dense)
        self.decoder_layers = []
        back = widths[::-1]
        for i, units in enumerate(back[1:]):
            last = i == len(back) - 2
            dense = keras.layers.Dense(
                units, activation=self.output_activation if last else self.activation,
                dtype="float32" if last else self.dtype_policy,
                name="output" if last else f"decoder_{i}")
            dense.build((None, back[i]))
            self.decoder_layers.append(dense)

    def encode(self, inputs, training=None, return_hidden=False):
        """The code of `inputs` (corrupted first when `training`).

        Args:
            inputs: `[batch, features]`.
            training: corrupt the input when true.
            return_hidden: also return the last hidden layer's activations.

        Returns:
            `[batch, code_dim]`, or `(code, hidden)` with `return_hidden`.
        """
        x = self.corrupt(inputs, training=training)
        for dense in self.encoder_layers[:-1]:
            x = dense(x)
        code = self.encoder_layers[-1](x)
        return (code, x) if return_hidden else code

    def decode(self, code, training=None):
        """The reconstruction of a code (noised first when `training`)."""
        x = self.code_corruption(code, training=training)
        for dense in self.decoder_layers:
            x = dense(x)
        return x

    def call(self, inputs, training=None):
        return self.decode(self.encode(inputs, training=training), training=training)

    def representation(self, inputs, depth: int):
        """The clean input of encoder layer `depth`: the input itself at 0, else the
        activations of the layer below (no corruption)."""
        self._check_depth(depth)
        x = inputs
        for dense in self.encoder_layers[:depth]:
            x = dense(x)
        return x

    def stage_model(self, depth: int) -> keras.Model:
        """The one-layer denoising auto-encoder of greedy pre-training stage `depth`.

        It corrupts its input as the block does, encodes it with encoder layer `depth` and
        decodes it with that layer's mirror in the decoder; the weights are this block's
        own, so training it pre-trains them. Its input is `representation(x, depth)`;
        stage 0 reconstructs the block's input through the output layer, the others the
        clean hidden activations (train them with a squared error).

        Args:
            depth: 0 .. `depth - 1`, input side first.
        """
        self._check_depth(depth)
        if not self.built:
            raise ValueError("StackedDenoisingAutoEncoder.stage_model: build the block "
                             "(call it once) first")
        width = self.features if depth == 0 else self.hidden[depth - 1]
        noise = InputCorruption(self.corruption, self.corruption_rate,
                                seed=None if self.seed is None else self.seed + 2 + depth,
                                name=f"stage_{depth}_corruption")
        inputs = keras.Input((width,), name=f"stage_{depth}_input")
        code = self.encoder_layers[depth](noise(inputs))
        outputs = self.decoder_layers[len(self.decoder_layers) - 1 - depth](code)
        return keras.Model(inputs, outputs, name=f"{self.name}_stage_{depth}")

    def _check_depth(self, depth):
        if not 0 <= int(depth) < self.depth:
            raise ValueError(f"StackedDenoisingAutoEncoder depth: got {depth!r}, expected "
                             f"0 <= depth < {self.depth}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({
            "hidden": list(self.hidden), "code_dim": self.code_dim,
            "activation": self.activation, "corruption": self.corruption,
            "corruption_rate": self.corruption_rate, "code_noise": self.code_noise,
            "output_activation": self.output_activation, "seed": self.seed,
        })
        return config
