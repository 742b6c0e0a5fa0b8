"""The ``camfleet`` command line: thin verbs that parse, call the package and print."""
