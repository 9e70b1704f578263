"""Reliability tests start their own servers: each needs its own flags and its own fate."""
