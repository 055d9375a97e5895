"""Slack-side ledger: what Slack itself says about the grants nhictl inventories
(Enterprise Grid audit logs, team.integrationLogs, users.info)."""
