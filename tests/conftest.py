"""Shared test configuration: the kemu plugin is loaded through its entry point."""
