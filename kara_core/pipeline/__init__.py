"""The stages of an experiment: prepare, featurize, train, generate, evaluate."""
