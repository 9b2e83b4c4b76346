// What Convex says about documents, for the differential test of the Python validator
// (tests/test_validate_differential.py).
//
//   node validate_docs.mjs SCHEMA_MODULE < docs.jsonl > verdicts.jsonl
//
// SCHEMA_MODULE default-exports `({ defineSchema, defineTable, v }) => schema`, so it needs
// no module resolution of its own. Each input line is {"table": ..., "doc": <Convex-encoded
// JSON>}; each output line, in the same order, is {"convexTest": null | "error message",
// "limits": null | "error message"}:
//   - convexTest: decoding the document with convex/values `jsonToConvex` and inserting it
//     through convex-test with the schema (schema validators, field-name checks of the
//     convex package);
//   - limits: local_convex_limits.mjs `checkDocument`, the rules convex-test does not
//     enforce (1 MiB size with Convex's formula, nesting 16, 8192 array elements, 1024
//     fields, field names, valid Unicode), as the local endpoint applies them.
// A document is refused when either says so.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { convexTest } from "convex-test";
import { defineSchema, defineTable } from "convex/server";
import { jsonToConvex, v } from "convex/values";
import { checkDocument } from "./local_convex_limits.mjs";

const schemaModule = await import(pathToFileURL(process.argv[2]).href);
const schema = schemaModule.default({ defineSchema, defineTable, v });
// convex-test finds the functions root through a `_generated` path; no function is called.
const modules = { "/convex/_generated/api.js": async () => ({}) };
const t = convexTest(schema, modules);

function message(error) {
  return String(error?.message ?? error).split("\n")[0].slice(0, 300);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of lines) {
  if (!line) continue;
  const { table, doc } = JSON.parse(line);
  const verdict = { convexTest: null, limits: null };
  let value;
  try {
    value = jsonToConvex(doc);
    await t.run(async (ctx) => {
      await ctx.db.insert(table, value);
    });
  } catch (error) {
    verdict.convexTest = message(error);
  }
  try {
    checkDocument(table, value ?? doc);   // the raw JSON when jsonToConvex refused it
  } catch (error) {
    verdict.limits = message(error);
  }
  out.push(JSON.stringify(verdict));
  if (out.length >= 1000) {
    process.stdout.write(out.join("\n") + "\n");
    out.length = 0;
  }
}
if (out.length) process.stdout.write(out.join("\n") + "\n");
