"""Vigil: configuration, command line and the pipeline that wires the packages together."""
