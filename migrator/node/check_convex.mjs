// Type-checks a generated convex/ folder with the real `typescript` and `convex`
// packages, then loads its schema.ts and prints schema.export().
// Usage: node check_convex.mjs <convexDir>   -> JSON on stdout: {diagnostics, schema}
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const source = process.argv[2];
const work = mkdtempSync(join(here, ".check-"));
const out = { diagnostics: [], schema: null };
try {
  const target = join(work, "convex");
  cpSync(source, target, { recursive: true, filter: (p) => !p.includes("node_modules") });
  // Outside a real project, `npx convex dev` has not generated _generated/: provide the
  // untyped equivalents (what convex-test's docs describe) so function modules type-check.
  const generated = join(target, "_generated");
  if (!existsSync(generated)) {
    mkdirSync(generated);
    writeFileSync(join(generated, "server.ts"), [
      "export { queryGeneric as query, mutationGeneric as mutation, actionGeneric as action,",
      "  internalQueryGeneric as internalQuery, internalMutationGeneric as internalMutation,",
      "  internalActionGeneric as internalAction, httpActionGeneric as httpAction } from \"convex/server\";",
    ].join("\n"));
    writeFileSync(join(generated, "api.ts"), "import { anyApi } from \"convex/server\";\nexport const api: any = anyApi;\nexport const internal: any = anyApi;\n");
  }
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.tsx?$/.test(name)) files.push(p);
    }
  };
  walk(target);
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: false, isolatedModules: true, types: [],
  };
  const program = ts.createProgram(files, options);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (d.file) {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      out.diagnostics.push(`${join(source, relative(target, d.file.fileName))}:${line + 1}:${character + 1}: TS${d.code}: ${text}`);
    } else out.diagnostics.push(`TS${d.code}: ${text}`);
  }
  const schemaTs = join(target, "schema.ts");
  const js = ts.transpileModule(readFileSync(schemaTs, "utf8"), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const schemaJs = join(target, "schema.mjs");
  writeFileSync(schemaJs, js);
  const mod = await import(pathToFileURL(schemaJs).href);
  out.schema = JSON.parse(mod.default.export());
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out));
