"""The main window and its parts, one widget family per module."""
