"""The "generate" stage: Convex TypeScript from a mapping plan."""
