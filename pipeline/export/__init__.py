"""One module per output format: a function from build data to files, reading records only."""
