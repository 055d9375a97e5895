"""nhictl: govern the delegated Slack credentials that SaaS apps hold."""

__version__ = "0.1.0"
