"""Beam transforms, one module per stage."""
