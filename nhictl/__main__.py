from nhictl.cli.main import run

run()
