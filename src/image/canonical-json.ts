/**
 * JSON with object keys sorted (by UTF-16 code unit, as `Array.prototype.sort` does) at every
 * level and no whitespace, so the same value always serializes to the same bytes: image ids
 * are hashes of this text.
 *
 * Refuses what JSON cannot round-trip faithfully: non-finite numbers, `undefined` (or functions,
 * symbols) inside arrays, bigints. Object properties whose value is `undefined` are left out,
 * like `JSON.stringify` does. Objects with a `toJSON` method are serialized through it.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, where: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new TypeError(`canonicalJson: non-finite number at ${where}`);
      }
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: cannot serialize ${typeof value} at ${where}`);
  }
  const withToJson = value as { toJSON?: unknown };
  if (typeof withToJson.toJSON === 'function') {
    return write((withToJson.toJSON as () => unknown).call(value), where);
  }
  if (Array.isArray(value)) {
    const items = (value as unknown[]).map((item, i) => write(item, `${where}[${i}]`));
    return `[${items.join(',')}]`;
  }
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    // Same as JSON.stringify: absent and undefined properties mean the same thing.
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${write(v, `${where}.${key}`)}`);
  }
  return `{${parts.join(',')}}`;
}
