"""View tests of the dashboard: what a signed-in analyst, auditor or stranger sees."""
