"""throttlebed: a testbed for traffic-restriction directives under Order 267-NK (Kazakhstan)."""

__version__ = "0.1.0"
