// Loads a user's Convex functions folder for convex-test: every .ts/.js module is
// transpiled with `typescript` to an .mjs file in a work folder inside this node
// folder (so bare `convex/...` imports resolve to our node_modules), relative imports
// are rewritten to point at the transpiled files, and an untyped `_generated/`
// (server, api, dataModel) is provided in place of what `npx convex codegen` writes.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve, sep, posix } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));

const GENERATED = {
  "_generated/server.mjs": [
    "export { queryGeneric as query, mutationGeneric as mutation, actionGeneric as action,",
    "  internalQueryGeneric as internalQuery, internalMutationGeneric as internalMutation,",
    "  internalActionGeneric as internalAction, httpActionGeneric as httpAction } from \"convex/server\";",
    "",
  ].join("\n"),
  "_generated/api.mjs": "import { anyApi, componentsGeneric } from \"convex/server\";\nexport const api = anyApi;\nexport const internal = anyApi;\nexport const components = componentsGeneric();\n",
  "_generated/dataModel.mjs": "export {};\n",
};

const SOURCE_EXT = [".ts", ".tsx", ".mts", ".js", ".mjs", ".jsx"];

function listSources(root) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) {
        if (name === "node_modules" || name === "_generated" || name.startsWith(".")) continue;
        walk(p);
      } else if (SOURCE_EXT.some((e) => name.endsWith(e)) && !/\.d\.[mc]?ts$/.test(name)
        && !/\.(test|spec)\.[mc]?[jt]sx?$/.test(name)) {
        out.push(relative(root, p).split(sep).join("/"));
      }
    }
  };
  walk(root);
  return out;
}

// "dir/file.ts" -> "dir/file" (the module path convex uses)
function stripExt(rel) {
  return rel.replace(/\.[^./]+$/, "");
}

// Resolve a relative import of `fromRel` (a source path relative to the root) to the
// module path (no extension) of another source, or of a `_generated` file.
function resolveRelative(spec, fromRel, known) {
  const base = posix.normalize(posix.join(posix.dirname(fromRel), spec));
  const bare = base.replace(/\.(m?js|jsx|m?ts|tsx)$/, "");
  for (const candidate of [bare, base, `${bare}/index`, `${base}/index`]) {
    if (known.has(candidate)) return candidate;
  }
  return null;
}

/**
 * Transpile the folder. Returns {workDir, outDir, modulePaths: [module path...],
 * files: {modulePath: absolute .mjs path}, schemaPath|null}.
 */
export function transpileConvexDir(convexDir, { prefix = ".check-local-convex-" } = {}) {
  const root = resolve(convexDir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new Error(`--convex-dir ${convexDir} is not a directory`);
  }
  const workDir = mkdtempSync(join(here, prefix));
  const outDir = join(workDir, "convex");
  mkdirSync(join(outDir, "_generated"), { recursive: true });
  const sources = listSources(root);
  const known = new Map(); // module path -> source rel
  for (const rel of sources) known.set(stripExt(rel), rel);
  for (const g of Object.keys(GENERATED)) known.set(stripExt(g), g);
  const files = {};
  for (const [g, text] of Object.entries(GENERATED)) {
    const p = join(outDir, g);
    writeFileSync(p, text);
    files[stripExt(g)] = p;
  }
  for (const rel of sources) {
    const text = readFileSync(join(root, rel), "utf8");
    let js = ts.transpileModule(text, {
      fileName: rel,
      compilerOptions: {
        module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022,
        jsx: ts.JsxEmit.React, esModuleInterop: true, verbatimModuleSyntax: false,
      },
    }).outputText;
    // Rewrite relative specifiers (in static and dynamic imports/exports) to the
    // transpiled .mjs files; positions come from TypeScript's own import scanner.
    const refs = ts.preProcessFile(js, true, true).importedFiles
      .filter((r) => r.fileName.startsWith("./") || r.fileName.startsWith("../"))
      .sort((a, b) => b.pos - a.pos);
    for (const r of refs) {
      const target = resolveRelative(r.fileName, rel, known);
      if (target === null) continue; // leave as is: Node reports the missing module
      let spec = posix.relative(posix.dirname(rel), target) + ".mjs";
      if (!spec.startsWith(".")) spec = "./" + spec;
      // pos/end bracket the quoted specifier (the quote included or not, depending on
      // the TypeScript version): find the name itself inside that window.
      const at = js.indexOf(r.fileName, r.pos);
      if (at < 0 || at > r.end) continue;
      js = js.slice(0, at) + spec + js.slice(at + r.fileName.length);
    }
    const modPath = stripExt(rel);
    const outFile = join(outDir, modPath + ".mjs");
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, js);
    files[modPath] = outFile;
  }
  return {
    workDir,
    outDir,
    files,
    modulePaths: Object.keys(files).filter((m) => !m.startsWith("_generated/")),
    schemaPath: files["schema"] ?? null,
  };
}

/** The `modules` map convex-test wants: keys are paths containing `_generated/`, whose
 *  prefix before `_generated` is the root; values are lazy importers. */
export function convexTestModules(files, outDir) {
  const modules = {};
  for (const [modPath, file] of Object.entries(files)) {
    const key = outDir + "/" + modPath + ".mjs";
    const url = pathToFileURL(file).href;
    modules[key] = () => import(url);
  }
  return modules;
}

export async function importModule(file) {
  return await import(pathToFileURL(file).href);
}
