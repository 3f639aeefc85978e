"""Shequ (社区): open software for the urban and rural community service system."""

__version__ = "0.1.0"
