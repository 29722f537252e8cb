"""Experiments: comparing runs, tuning hyper-parameters, registering champions and the
MLflow UI over the store the runs went to."""
