"""Experiment trackers that subscribe to engine events (optional extras)."""
