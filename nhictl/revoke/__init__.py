"""Revocation: the plan (pure, ``plan``) and its execution (I/O, ``execute``), always recorded."""
