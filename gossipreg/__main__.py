"""``python -m gossipreg`` is the ``gossipreg`` command."""

from gossipreg.cli.app import main

raise SystemExit(main())
