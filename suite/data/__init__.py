"""tf.data helpers shared by the pipelines: splits, fingerprints, input validation."""

from suite.data.fingerprint import fingerprint_arrays, fingerprint_files, fingerprint_state
from suite.data.splits import DataInfo, Splits, stratified_split
from suite.data.validation import DataError, Skipped

__all__ = ["DataError", "DataInfo", "Skipped", "Splits", "fingerprint_arrays",
           "fingerprint_files", "fingerprint_state", "stratified_split"]
