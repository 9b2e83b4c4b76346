// Type-checks browser-side TypeScript files (the generated uploadToConvex.ts, and in tests
// code that uses it) with the real `typescript`, `dexie`, `dexie-export-import` and
// `convex` packages, as a browser app compiles them (lib DOM, strict).
// Usage: node check_browser_module.mjs FILE.ts...   -> JSON on stdout: {diagnostics}
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const sources = process.argv.slice(2);
const work = mkdtempSync(join(here, ".check-browser-"));
const out = { diagnostics: [] };
try {
  // Copied beside our node_modules, so the packages resolve as in the app (same folder:
  // relative imports between the files keep working).
  const copies = new Map();
  for (const source of sources) {
    const copy = join(work, basename(source));
    copyFileSync(source, copy);
    copies.set(copy, source);
  }
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"], module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler, isolatedModules: true, types: [],
  };
  const program = ts.createProgram([...copies.keys()], options);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (d.file) {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      const name = copies.get(d.file.fileName) ?? relative(work, d.file.fileName);
      out.diagnostics.push(`${name}:${line + 1}:${character + 1}: TS${d.code}: ${text}`);
    } else out.diagnostics.push(`TS${d.code}: ${text}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out));
