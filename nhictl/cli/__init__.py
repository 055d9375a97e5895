"""The command line: a thin typer veneer over the library."""
