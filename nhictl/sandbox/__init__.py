"""Loopback fakes of Slack, WorkOS Pipes and Nango, for `nhictl demo` and the tests."""
