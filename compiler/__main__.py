"""`python -m compiler`: see compiler/cli.py (show, graph, check, compile)."""
from .cli import main

raise SystemExit(main())
