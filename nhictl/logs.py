"""Logging to stderr as text or one JSON object per line. Never given a token."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from nhictl.clock import iso, system_clock
from nhictl.untrusted import inert, mask

LOGGER = "nhictl"
LOG_SCHEMA_VERSION = 1


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": iso(system_clock()),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "schema_version": LOG_SCHEMA_VERSION,  # the line's shape: `nhictl schema log`
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update(extra)
        return mask(json.dumps(payload, sort_keys=False, default=str))  # ASCII, masked


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"nhictl: {record.getMessage()}"
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict) and extra:
            text += " (" + ", ".join(f"{k}={v}" for k, v in extra.items()) + ")"
        return inert(text)


def setup(fmt: str = "text", level: int = logging.INFO) -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # slack_sdk logs request details (headers included) at DEBUG: keep it quiet always.
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return logger


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    logging.getLogger(LOGGER).log(level, event, extra={"fields": fields})
