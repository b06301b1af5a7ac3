"""One module per subcommand: add_parser(subparsers) sets handler=run(args) -> exit status."""
