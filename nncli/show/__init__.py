"""Showing results: terminal tables and progress, JSON, the HTML report and the run folder."""
