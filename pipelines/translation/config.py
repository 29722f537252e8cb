"""The translation config: corpus, subword vocabularies, the model and its decoding."""

from __future__ import annotations

import dataclasses

from suite.config import Config, DataConfig, TrainerConfig, option, section


@dataclasses.dataclass
class PairsDataConfig(DataConfig):
    """The sentence pairs: the installed gettext catalogs of one language, or a TSV file."""

    target_lang: str = option("es", help="gettext catalogs: the language directory, e.g. "
                                         "es, fr, de, pt_BR")
    locale_dir: str = option("/usr/share/locale", help="gettext catalogs: the locale root")
    min_words: int = option(1, min=1, help="drop pairs whose source has fewer words")
    max_words: int = option(30, min=1, help="drop pairs whose source has more words")


@dataclasses.dataclass
class TranslatorConfig:
    """Subword vocabularies, the encoder-decoder, its training loss and decoding."""

    source_vocabulary: int = option(2000, min=16, help="source SentencePiece vocabulary size")
    target_vocabulary: int = option(2000, min=16, help="target SentencePiece vocabulary size")
    max_tokens: int = option(64, min=4, help="longest source read (longer is truncated) and "
                                            "longest translation generated, in pieces")
    embedding_dim: int = option(128, min=1)
    encoder_units: int = option(128, min=1, help="width of each encoder LSTM per direction")
    encoder_depth: int = option(2, min=1, max=6, help="stacked bidirectional LSTM layers")
    decoder_units: int = option(256, min=1)
    attention: str = option("bahdanau", choices=("bahdanau", "luong"),
                            help="additive (Bahdanau) or multiplicative (Luong) scores")
    attention_units: int = option(128, min=1, help="Bahdanau scoring layer width")
    dropout: float = option(0.2, min=0.0, max=0.9)
    label_smoothing: float = option(0.1, min=0.0, max=0.5)
    beam_width: int = option(4, min=1, max=32)
    length_penalty: float = option(0.6, min=0.0, max=5.0, help="GNMT length normalisation "
                                                              "exponent (0: none)")
    bucket_width: int = option(8, min=1, help="length buckets for batching, in pieces")


@dataclasses.dataclass
class TranslationConfig(Config):
    """Everything `suite run translation` can be told."""

    # XLA is off: with length buckets every batch shape is new, and its recompiles made CPU
    # training 8x slower. Six epochs keep translation within the main job's hour
    # (docs/results.md).
    trainer: TrainerConfig = section(TrainerConfig, epochs=6, batch_size=128,
                                     learning_rate=3e-3, early_stopping_patience=2,
                                     gradient_clip_norm=1.0, jit_compile="false")
    data: PairsDataConfig = section(PairsDataConfig, val_fraction=0.05, test_fraction=0.05)
    model: TranslatorConfig = section(TranslatorConfig)
