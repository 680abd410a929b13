"""The sample backend API."""
