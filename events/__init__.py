"""Voice ID's EventBridge events, recorded in an outbox and delivered to webhook subscriptions."""
