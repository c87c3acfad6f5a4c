"""Command handlers, one module per aggregate: each checks permissions, loads what
the decision needs, and lets the domain decide inside a unit of work."""
