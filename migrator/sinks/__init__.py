"""The "write through a sink" stage: where converted documents go (a Convex deployment)."""
