"""What a run leaves for people: run records, versions, the comparison table, plots, pages."""
