"""The document-retrieval config: documents, vocabulary, the auto-encoder and its training."""

from __future__ import annotations

import codecs
import dataclasses

from suite.config import Config, ConfigError, DataConfig, TrainerConfig, option, section

FORTUNES_MIN_PER_CATEGORY = 100   # the fortunes files with fewer entries are left out
FOLDER_MIN_PER_CATEGORY = 2       # a user's label folder is used if it can be split


@dataclasses.dataclass
class DocumentDataConfig(DataConfig):
    """The documents: the fortunes files, or a folder (`data.path`) of text files."""

    fortunes_dir: str = option("/usr/share/games/fortunes",
                               help="embedded data: the fortune files (Debian's `fortunes`)")
    categories: tuple[str, ...] | None = option(
        None, help="the labels to use, comma-separated; none: every label with at least "
                   "data.min_per_category documents")
    min_per_category: int | None = option(
        None, min=2, help="without data.categories, the fewest documents a label needs to be "
                          "used; none: 100 for the fortunes, 2 for a folder")
    min_words: int = option(5, min=1, help="drop shorter documents (in words)")
    encoding: str = option("utf-8", help="a folder's text encoding (latin-1 for the "
                                         "original 20 Newsgroups files)")


@dataclasses.dataclass
class AutoEncoderConfig:
    """The bag of words, the stacked denoising auto-encoder, its pre-training and search."""

    vocabulary: int = option(2000, min=2, help="the most frequent training words kept (V)")
    stop_words: str = option("english", choices=("english", "none"),
                             help="leave scikit-learn's English stop words out of the vocabulary")
    input: str = option("log_idf", choices=("log_count", "log_idf"),
                        help="the encoder's input: log(1 + count), or that times each word's "
                             "inverse document frequency in the indexed documents")
    hidden: tuple[int, ...] = option((500, 250, 125), min=1,
                                     help="encoder hidden widths (the decoder mirrors them)")
    code_dim: int = option(10, min=1, help="width of the linear code the search compares")
    map_head: bool = option(True, help="train a 2-D code head for the map (its gradient does "
                                       "not reach the encoder)")
    loss: str = option("multinomial", choices=("multinomial", "proportions"),
                       help="the softmax output's loss: the multinomial negative "
                            "log-likelihood of the document's words (a document weighs by its "
                            "length, as in the paper), or the cross-entropy against its word "
                            "proportions (every document weighs alike)")
    neighbours: int = option(50, min=0, help="nearest indexed documents (TF-IDF cosine) whose "
                                            "words join each document's reconstruction "
                                            "target (0: its own words only)")
    neighbour_weight: float = option(1.0, min=0.0, help="the neighbours' share of the target "
                                                        "relative to the document's own words")
    activation: str = option("relu", choices=("relu", "sigmoid", "tanh", "elu"))
    corruption: str = option("dropout", choices=("dropout", "masking", "gaussian"),
                             help="the input noise of the denoising auto-encoder")
    corruption_rate: float = option(0.5, min=0.0, max=0.95,
                                    help="share of input words dropped (gaussian: stddev)")
    code_noise: float = option(0.0, min=0.0, help="stddev of Gaussian noise on the code in "
                                                  "training (0: none)")
    pretrain_epochs: int = option(
        0, min=0, help="epochs of greedy layer-wise pre-training per layer before "
                       "fine-tuning (0: none; measured with 2 epochs: a lower precision@10 "
                       "on the fortunes and on the docstrings folder, a higher MAP and "
                       "precision@50 on the docstrings only)")
    top_k: int = option(10, min=1, help="results the exported search returns per query")
    snippet_chars: int = option(160, min=10, help="characters of each result's text the "
                                                  "exported search returns")
    validation_queries: int = option(1000, min=0, help="validation documents searched after "
                                                       "each epoch for val_precision_at_10 "
                                                       "(the early stopping's measure)")


@dataclasses.dataclass
class FigureConfig:
    """The maps of the query documents."""

    tsne_points: int = option(1500, min=10, help="query documents drawn in the t-SNE map")


@dataclasses.dataclass
class DocumentRetrievalConfig(Config):
    """Everything `suite run document-retrieval` can be told."""

    # A cosine decay from 3e-3 over 40 epochs, early stopping on the validation precision;
    # targets with the words of 50 TF-IDF neighbours lifted held-out P@10 (docs/results.md).
    trainer: TrainerConfig = section(TrainerConfig, epochs=40, batch_size=128,
                                     learning_rate=3e-3, schedule="cosine",
                                     early_stopping_patience=10)
    data: DocumentDataConfig = section(DocumentDataConfig, val_fraction=0.05,
                                       test_fraction=0.2)
    model: AutoEncoderConfig = section(AutoEncoderConfig)
    figures: FigureConfig = section(FigureConfig)

    def resolve(self, explicit: set[str]) -> None:
        if self.data.min_per_category is None and "data.min_per_category" not in explicit:
            self.data.min_per_category = (FORTUNES_MIN_PER_CATEGORY if self.data.path is None
                                          else FOLDER_MIN_PER_CATEGORY)

    def check(self) -> None:
        super().check()
        try:
            codecs.lookup(self.data.encoding)
        except LookupError:
            raise ConfigError(f"config key 'data.encoding': got {self.data.encoding!r}, "
                              "expected a Python codec name such as utf-8 or latin-1") from None
        if self.data.categories is not None and len(set(self.data.categories)) < 2:
            raise ConfigError(f"config key 'data.categories': got {self.data.categories!r}, "
                              "expected two or more labels (or none for all)")
