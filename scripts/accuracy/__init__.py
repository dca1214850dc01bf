"""Helpers of scripts/accuracy.py: trial lists, embedding, metrics, calibration fitting and the report."""
