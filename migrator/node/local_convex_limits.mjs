// Rules the real Convex backend applies to every document written, which convex-test
// does not: size, nesting, array length, field count, field names, valid Unicode.
// Numbers from the Convex limits page and convex-facts.md.
import { getConvexSize } from "convex/values";

export const LIMITS = {
  documentBytes: 1 << 20, // 1 MiB, including _id and _creationTime
  depth: 16, // the document itself counts as 1
  arrayElements: 8192,
  objectFields: 1024,
  fieldNameChars: 1024,
};
// Real ids are 32 characters (convex-test's fake ids too, for short table names).
const ID_CHARS = 32;
const SYSTEM_FIELDS = new Set(["_id", "_creationTime"]);

export class DocumentRuleError extends Error {}

function isPlainObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof ArrayBuffer)
    && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
}

function describePath(path) {
  return path.length === 0 ? "the document" : `field path ${path.join(".")}`;
}

function checkFieldName(name, topLevel, allowSystem, path) {
  if (name.length === 0) {
    throw new DocumentRuleError(`Empty field names are not allowed (in ${describePath(path)}).`);
  }
  if (name.length > LIMITS.fieldNameChars) {
    throw new DocumentRuleError(`Field name ${name.slice(0, 64)}... exceeds maximum field name length ${LIMITS.fieldNameChars}.`);
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 32 || c > 126) {
      throw new DocumentRuleError(`Field name ${JSON.stringify(name)} has invalid character ${JSON.stringify(name[i])}: field names can only contain printable ASCII characters.`);
    }
  }
  if (name.startsWith("$")) {
    throw new DocumentRuleError(`Field name ${name} starts with a '$', which is reserved.`);
  }
  if (topLevel && name.startsWith("_") && !(allowSystem && SYSTEM_FIELDS.has(name))) {
    throw new DocumentRuleError(`Field name ${name} starts with '_', which is reserved for system fields at the top level of a document.`);
  }
}

function walk(value, depth, path, topLevel, allowSystem) {
  if (typeof value === "string") {
    if (!value.isWellFormed()) {
      throw new DocumentRuleError(`Invalid string in ${describePath(path)}: it is not valid Unicode (unpaired surrogate).`);
    }
    return;
  }
  if (value === null || typeof value !== "object" || value instanceof ArrayBuffer) return;
  if (depth > LIMITS.depth) {
    throw new DocumentRuleError(`Document is too nested (nested ${depth} levels deep > maximum nesting ${LIMITS.depth}) at ${describePath(path)}.`);
  }
  if (Array.isArray(value)) {
    if (value.length > LIMITS.arrayElements) {
      throw new DocumentRuleError(`Array length is too long (${value.length} > maximum length ${LIMITS.arrayElements}) at ${describePath(path)}.`);
    }
    for (let i = 0; i < value.length; i++) walk(value[i], depth + 1, [...path, i], false, false);
    return;
  }
  if (!isPlainObject(value)) return;
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  if (keys.length > LIMITS.objectFields) {
    throw new DocumentRuleError(`Object has too many fields (${keys.length} > maximum number ${LIMITS.objectFields}) at ${describePath(path)}.`);
  }
  for (const k of keys) {
    checkFieldName(k, topLevel, allowSystem, path);
    walk(value[k], depth + 1, [...path, k], false, false);
  }
}

/**
 * Check a whole document about to be stored in `table`. `doc` holds user fields and
 * possibly `_id`/`_creationTime` (allowed only when allowSystem). Size counts the
 * system fields (estimated when absent). Throws DocumentRuleError.
 */
export function checkDocument(table, doc, { allowSystem = false, idLength = ID_CHARS } = {}) {
  if (!isPlainObject(doc)) throw new DocumentRuleError(`A document must be an object.`);
  walk(doc, 1, [], true, allowSystem);
  const withSystem = { ...doc };
  if (withSystem._id === undefined) withSystem._id = "x".repeat(idLength);
  if (withSystem._creationTime === undefined) withSystem._creationTime = 0;
  const size = getConvexSize(withSystem);
  if (size > LIMITS.documentBytes) {
    throw new DocumentRuleError(`Value is too large (${size} bytes > maximum size ${LIMITS.documentBytes} bytes): document in table "${table}" is over the 1 MiB document limit. This is a Convex limit: https://docs.convex.dev/production/state/limits`);
  }
  return size;
}

/** True when every string (values and keys) in a decoded value is valid Unicode. */
export function allStringsWellFormed(value) {
  if (typeof value === "string") return value.isWellFormed();
  if (value === null || typeof value !== "object" || value instanceof ArrayBuffer) return true;
  if (Array.isArray(value)) return value.every(allStringsWellFormed);
  for (const [k, v] of Object.entries(value)) {
    if (!k.isWellFormed() || !allStringsWellFormed(v)) return false;
  }
  return true;
}
