from init.cli import entry

entry()
