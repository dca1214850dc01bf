"""The audit log: who read or changed biometric data, when, from where, through the API, dashboard or admin."""

from __future__ import annotations
