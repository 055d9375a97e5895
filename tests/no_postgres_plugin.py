"""A pytest plugin (``-p tests.no_postgres_plugin``) that makes this machine look as if it
had no PostgreSQL, for the test of what the suite then does (tests/test_engine_matrix.py)."""

import tools.pgcluster

tools.pgcluster.find_binaries = lambda: (None, "initdb not found (simulated)")
