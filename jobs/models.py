"""Batch enrollment and registration jobs land here with the batch-jobs issue (see README status table)."""
