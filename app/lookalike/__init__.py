"""Lookalike: a desktop photo organiser that finds photos by what they show."""

__version__ = "0.1.0"
APP_NAME = "Lookalike"
