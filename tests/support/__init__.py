"""What the tests share: the CLI runner (cli), audio fixtures made at test time (audio), and
tiny songs, configs and models for the training tests (training). Fixtures built on them
live in tests/conftest.py."""
