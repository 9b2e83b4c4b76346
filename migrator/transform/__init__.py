"""The "transform rows" stage: dump rows -> Convex documents, as the plan says."""
