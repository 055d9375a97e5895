"""Binding sources: where delegated Slack credentials really live."""
