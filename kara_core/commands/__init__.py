"""One module per ``kara`` sub-command: ``add_parser(subparsers)`` and ``run(args)``."""
