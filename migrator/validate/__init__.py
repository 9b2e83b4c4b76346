"""The "validate" stage: what Convex would refuse, found before anything is sent."""
