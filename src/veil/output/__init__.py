"""Trace writers: strace text, JSON lines, and the -c summary."""
