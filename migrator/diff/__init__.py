"""Compare what a plan would generate with an existing `convex/schema.ts`, and merge into it."""
