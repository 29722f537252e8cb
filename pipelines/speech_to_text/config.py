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
    utterances: int = option(6000, min=10, help="synthesised training utterances")
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

    num_mel_bins: int = option(64, min=8, max=256)
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
    # slowed learning more than they helped on unseen voices (see SpeechToTextConfig).
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

    # XLA is off: every batch has a new length. Four epochs for the model and four for the
    # unidirectional baseline, for `suite run all`'s hour on 2 cores (the README has the
    # job's time). Measured on 2 AMD EPYC cores (benchmarks/speech_to_text.py; the others
    # with the pipeline alone, no baseline), test CER unseen speakers / unseen accent,
    # beam search with the 7-gram language model (beam 16 unless named):
    #   batch 32, learning rate 2e-3, beam 32 (the default): 0.172 / 0.213 (WER 0.42 /
    #     0.50; plain beam 0.241 / 0.298; greedy 0.248 / 0.307), baseline 0.210 / 0.251;
    #     training 13.7 minutes (68 seconds of audio a second), baseline training and
    #     decoding 10, the whole run 27. Validation CER by epoch 0.382, 0.291, 0.247, 0.224.
    #   The same at beam 16: 0.176 / 0.219.
    #   batch 16, learning rate 2e-3, beam 32: 0.171 / 0.208 (WER 0.405 / 0.499; greedy
    #     0.234 / 0.293), baseline 0.196 / 0.240; validation CER 0.355, 0.271, 0.230,
    #     0.208; beam 16 0.172 / 0.209. Twice the steps for the same CER on unseen
    #     speakers, and training took 20.6 minutes (45 seconds of audio a second; the
    #     same cores' load varied: the default took 13.7 and 17.4 in two runs).
    #   batch 32, learning rate 3e-3: training loss 106 after one epoch (76 at 2e-3),
    #     validation CER 0.655 (stopped).
    #   8,000 utterances, 3 epochs, batch 16, learning rate 2e-3 (the same compute): 0.190
    #     / 0.215, validation CER 0.305, 0.264, 0.209: more utterances buy nothing here.
    #   batch 32, learning rate 1e-3 (the former default): 0.193 / 0.232 (WER 0.46 /
    #     0.53; greedy 0.276 / 0.328), baseline 0.237 / 0.280; training 14.5 minutes on
    #     less busy cores; validation CER 0.372, 0.323, 0.273, 0.249.
    #   The same with SpecAugment (2 frequency masks of up to 10 bands, 2 time masks of up
    #     to 20 frames) and dropout 0.1: 0.228 / 0.260 (greedy 0.297 / 0.343), baseline
    #     0.277 / 0.314; validation CER 0.433, 0.354, 0.296, 0.278. At this budget the
    #     model is far from converged (its training loss still falls fast), so
    #     regularising it costs more than it buys, even on unseen voices.
    #   LayerNormalization after each GRU layer, learning rate 2e-3, batch 32: validation
    #     CER 0.726, 0.374, 0.293 after three epochs (stopped; not kept).
    #   6 epochs with SpecAugment, batch 32, learning rate 1e-3 (a timed main job, on a
    #     faster CPU): 0.201 / 0.232 (WER 0.49 / 0.55), baseline 0.237 / 0.287.
    #   10,000 utterances, 4 epochs with SpecAugment, batch 64, learning rate 2e-3: 0.197 /
    #     0.233 in 16 minutes of training.
    # Batch 64 trains no faster than 32 per second of audio (78 vs 82 seconds a second).
    # The errors left are mostly phonetic spellings of words never heard in training
    # ("dren the mot" for "drain the moat"); the character language model fused into beam
    # search fixes part of them. Its settings were chosen on the log-probabilities of one
    # 6-epoch model (beam 16 without it: CER 0.261 / 0.301): a 7-gram of the fortunes
    # sentences that share no four words with a validation or test sentence, weight 0.5
    # and length bonus 2, CER 0.198 / 0.227; 6-gram 0.202; 8-gram at beam 32 0.195 /
    # 0.225; a 6-gram of the 6,000 training transcripts only 0.209 / 0.240; rescoring the
    # 32 best of the plain beam instead of fusing, 0.241. A word-lexicon penalty in the
    # search gave nothing (0.200-0.207). Checked again on the validation split with the
    # 8,000-utterance model above: weight 0.35 / 0.5 / 0.65 by bonus 1 / 2 / 3, CER 0.141
    # at 0.5 and 2, 0.142-0.155 elsewhere; beam 16 / 32 / 64: CER 0.141 / 0.136 / 0.133 at
    # 9 / 13 / 22 seconds for its 7 minutes of audio, so beam 32.
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
