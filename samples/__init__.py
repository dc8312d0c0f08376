"""Sample images made at run time (no binaries in the repository), for the tests and the load
test: neither imports the other, and both import this."""
