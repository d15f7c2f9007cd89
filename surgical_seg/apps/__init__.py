"""The commands: `surgical-seg` (cli.py) and one thin module per job it runs (bench, soak, doctor,
predict, the test stream sender and the architecture timer), over the library packages."""
