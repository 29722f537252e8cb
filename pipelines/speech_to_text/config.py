"""The speech-to-text config: the synthesised corpus (or an LJSpeech folder), the log-mel
frontend, the convolution + recurrent acoustic model, SpecAugment and CTC decoding."""

from __future__ import annotations

import dataclasses

from suite.config import Config, ConfigError, DataConfig, TrainerConfig, option, section


@dataclasses.dataclass
class SpeechDataConfig(DataConfig):
    """Utterances synthesised with espeak-ng (no `path`), or an LJSpeech-layout folder."""

    sample_rate: int = option(16000, min=4000, max=48000, help="the model's sample rate (Hz); "
                                                             "audio is resampled to it")
    utterances: int = option(12000, min=10, help="synthesised training utterances")
    eval_utterances: int = option(400, min=4, help="synthesised utterances of each test "
                                                   "split (unseen speakers, unseen accent)")
    val_utterances: int = option(200, min=2, help="synthesised validation utterances")
    fortunes_dir: str = option("/usr/share/games/fortunes",
                               help="where the spoken sentences come from (Debian's fortunes)")
    min_words: int = option(3, min=1, help="shortest sentence spoken, in words")
    max_words: int = option(10, min=1, help="longest sentence spoken, in words")
    accents: tuple[str, ...] = option((), help="espeak-ng English voices to speak with; "
                                               "none: every one espeak-ng has")
    test_accent: str = option("en-gb-scotland", help="the accent held out of training: the "
                                                     "unseen-accent test split")
    test_variants: float = option(0.15, min=0.01, max=0.5,
                                  help="share of espeak-ng's voice variants held out of "
                                       "training: the unseen-speakers test split")
    speed: tuple[int, ...] = option((140, 200), min=80, max=450,
                                    help="least and most speaking speed, words per minute")
    pitch: tuple[int, ...] = option((20, 80), min=0, max=99, help="least and most pitch")
    workers: int | None = option(None, min=1, help="espeak-ng processes at once; none: "
                                                   "twice the CPU cores")
    espeak: str = option("espeak-ng", help="the espeak-ng program")


@dataclasses.dataclass
class AcousticModelConfig:
    """Log-mel frontend, SpecAugment, convolutions striding over time, recurrent stack."""

    num_mel_bins: int = option(40, min=8, max=256)
    frame_ms: float = option(25.0, min=5.0, max=100.0, help="STFT window length")
    step_ms: float = option(10.0, min=2.0, max=50.0, help="STFT hop")
    conv_filters: tuple[int, ...] = option(
        (32, 32), min=1, help="one conv block per entry; each halves time and frequency")
    rnn_cell: str = option("gru", choices=("gru", "lstm"))
    rnn_units: int = option(192, min=1, help="width of each recurrent layer per direction")
    rnn_depth: int = option(3, min=1, max=8)
    bidirectional: bool = option(True, help="read each utterance both ways")
    dropout: float = option(0.0, min=0.0, max=0.9, help="dropout on each recurrent "
                                                        "layer's inputs")
    # SpecAugment is off by default: at the default four epochs its masks and dropout
    # slowed learning more than they helped on unseen voices (docs/results.md).
    # Longer runs can turn it on: freq_masks=2 time_masks=2 dropout=0.1 were the former
    # defaults.
    freq_masks: int = option(0, min=0, max=10, help="SpecAugment frequency masks")
    freq_mask_bins: int = option(10, min=1, help="SpecAugment widest frequency mask")
    time_masks: int = option(0, min=0, max=20, help="SpecAugment time masks")
    time_mask_frames: int = option(20, min=1, help="SpecAugment longest time mask")
    beam_width: int = option(32, min=1, max=256, help="CTC beam search width")
    lm_order: int = option(7, min=0, max=12, help="the character n-gram language model fused "
                                                  "into beam search: its order (0: none)")
    lm_weight: float = option(0.5, min=0.0, help="the language model's weight in beam search")
    lm_length_bonus: float = option(2.0, help="beam search's bonus per character (offsets "
                                              "the language model's pull to short text)")
    val_cer_utterances: int = option(100, min=0, help="validation utterances whose greedy "
                                                      "CER is logged each epoch (0: none)")


@dataclasses.dataclass
class SpeechToTextConfig(Config):
    """Everything `suite run speech-to-text` can be told."""

    # XLA is off: every batch has a new length. Four epochs of 12,000 utterances at learning
    # rate 2e-3, beam 32 with the 7-gram: the best CER on unseen voices that fits the main
    # job's hour (docs/results.md has every run behind these).
    trainer: TrainerConfig = section(TrainerConfig, epochs=4, batch_size=32,
                                     learning_rate=2e-3, schedule="cosine",
                                     gradient_clip_norm=5.0, jit_compile="false",
                                     early_stopping_patience=4)
    data: SpeechDataConfig = section(SpeechDataConfig, val_fraction=0.05, test_fraction=0.1)
    model: AcousticModelConfig = section(AcousticModelConfig)

    def check(self) -> None:
        super().check()
        for key in ("speed", "pitch"):
            value = getattr(self.data, key)
            if len(value) != 2 or value[0] > value[1]:
                raise ConfigError(f"config key 'data.{key}': got {value!r}, expected two "
                                  "values, least first")
        if self.data.min_words > self.data.max_words:
            raise ConfigError(f"config keys 'data.min_words' = {self.data.min_words} and "
                              f"'data.max_words' = {self.data.max_words}: expected "
                              "min_words <= max_words")
        if self.model.lm_order == 1:
            raise ConfigError("config key 'model.lm_order': got 1, expected 0 (no language "
                              "model) or an order of 2 or more")
        if self.model.step_ms > self.model.frame_ms:
            raise ConfigError(f"config key 'model.step_ms': got {self.model.step_ms}, "
                              f"expected at most model.frame_ms ({self.model.frame_ms})")
