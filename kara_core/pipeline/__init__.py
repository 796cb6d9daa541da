"""The stages of an experiment: prepare, featurize, train, generate, evaluate.

Each stage package has one front door (its ``__init__``): an entry function taking the
parts it uses and its own settings dataclass (``prepare``, ``featurize``, ``train``; the
cost estimate's ``estimate``). Stages and commands import one another only through those
doors (import-linter's ``protected`` contracts in pyproject.toml). The experiment driver
(:mod:`kara_core.pipeline.experiment`, with :mod:`kara_core.pipeline.parts`) is the only
code here that reads a whole :class:`~kara_core.config.VariantConfig`.
"""
