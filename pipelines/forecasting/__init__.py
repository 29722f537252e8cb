"""Forecasting: a recurrent multi-horizon quantile forecaster with honest baselines."""
