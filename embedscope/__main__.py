"""`python -m embedscope` is the `embedscope` command."""

from embedscope.cli import main

raise SystemExit(main())
