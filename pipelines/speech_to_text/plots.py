"""The speech-to-text figure: an utterance's log-mel spectrogram over its CTC posteriors."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def spectrogram_with_ctc(features, log_probs, state, reference: str, hypothesis: str
                         ) -> Figure:
    """The log-mel frames of one utterance, and under them on the same time axis the
    model's per-frame character posteriors with each frame's argmax character written in
    (blank frames left empty).

    Args:
        features: `[frames, mel bins]` as the model's frontend computes them.
        log_probs: `[output frames, characters + 1]` log-probabilities (class 0: blank).
        state: the pipeline's `SpeechState` (alphabet, frame step, sample rate).
        reference, hypothesis: the transcripts, for the title.
    """
    seconds_per_frame = state.frame_step / state.sample_rate
    duration = features.shape[0] * seconds_per_frame
    figure = Figure(figsize=(12, 6.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[1, 1.2])
    top.imshow(features.T, origin="lower", aspect="auto", cmap="magma",
               extent=[0, duration, 0, features.shape[1]])
    top.set_ylabel("mel band")
    top.set_title(f"reference:  {reference}\nhypothesis: {hypothesis}", loc="left",
                  fontsize=10, family="monospace")
    step = duration / log_probs.shape[0]
    bottom.imshow(np.exp(log_probs).T, origin="lower", aspect="auto", cmap="Greys",
                  extent=[0, log_probs.shape[0] * step, -0.5, log_probs.shape[1] - 0.5],
                  vmin=0, vmax=1)
    labels = ["<b>"] + [c if c != " " else "\u2423" for c in state.alphabet]
    bottom.set_yticks(range(len(labels)), labels, fontsize=6)
    for t, best in enumerate(np.argmax(log_probs, axis=1)):
        if best:
            bottom.text((t + 0.5) * step, best, labels[best], ha="center", va="center",
                        color="tab:red", fontsize=8, fontweight="bold")
    bottom.set_ylabel("CTC posterior (argmax in red)")
    bottom.set_xlabel("seconds")
    return figure
