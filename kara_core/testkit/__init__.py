"""The checks behind kara_core.testing, one module per component kind."""
