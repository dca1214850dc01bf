"""Tests of the events app: the outbox, signed webhook deliveries, the admin and the command."""
