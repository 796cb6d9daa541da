"""``python -m kara_core`` behaves exactly like the ``kara`` console script."""

from kara_core.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
