"""Slack scope catalog (package data) and the library behind ``nhictl scopes``."""

from nhictl.catalog.loader import COLUMNS, Catalog, ScopeInfo, load_catalog, parse_catalog

__all__ = ["COLUMNS", "Catalog", "ScopeInfo", "load_catalog", "parse_catalog"]
