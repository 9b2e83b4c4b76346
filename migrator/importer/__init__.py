"""The import: stream dump rows through the plan into a Convex sink, resumably and exactly once."""
