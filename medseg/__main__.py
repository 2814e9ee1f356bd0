from medseg.cli.main import run

run()
