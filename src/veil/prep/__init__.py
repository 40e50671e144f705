"""Preprocessing a program for packaging: :func:`veil.prep.analyze.analyze` (what a
program is and needs) and :func:`veil.prep.pack.pack` (a learning run, then a
bundle).  The command line, ``veil prep analyze|pack``, is veil.cli.prep."""
