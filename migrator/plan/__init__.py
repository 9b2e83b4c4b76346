"""The "plan the mapping" stage: decide how each Dexie table lands in Convex."""
