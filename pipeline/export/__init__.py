"""One module per output format; each is a function from build data to files, reading records only."""
