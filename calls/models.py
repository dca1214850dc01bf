"""Live call sessions land here with the voice-engine issue (see README status table)."""
