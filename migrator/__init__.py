"""dexie-convex: move a Dexie.js / IndexedDB app's data into Convex.

The pipeline, one sub-package per stage: `declarations` (read Dexie declarations in JS/TS),
`dumps` (read export files as streams), `plan` (decide the mapping, kept in a JSON5 file),
`generate` (Convex TypeScript). `commands` holds the commands as plain functions; `cli`
is the thin click layer on top.
"""
