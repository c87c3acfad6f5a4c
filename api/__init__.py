"""The thin HTTP layer: translates requests into commands and read-model queries."""
