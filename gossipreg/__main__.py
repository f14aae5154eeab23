"""``python -m gossipreg`` is the ``gossipreg`` command."""

from gossipreg.cli import main

raise SystemExit(main())
