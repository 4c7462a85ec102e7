from horus.cli.main import run  # type: ignore[import-not-found,unused-ignore]

run()
