/** Bencoding (BEP 3), the encoding of .torrent files and of tracker responses. */

/** What bencoding can hold: integers, byte strings, lists and dictionaries. */
export type BValue = number | string | Uint8Array | BValue[] | { [key: string]: BValue };

/**
 * Encodes a value. Strings are written as UTF-8; dictionaries with their keys sorted as raw
 * byte strings, as the format requires (the info hash depends on it).
 */
export function bencode(value: BValue): Buffer {
  const parts: Buffer[] = [];
  const walk = (v: BValue): void => {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new Error(`bencode: ${v} is not an integer`);
      parts.push(Buffer.from(`i${v}e`));
    } else if (typeof v === 'string' || v instanceof Uint8Array) {
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
      parts.push(Buffer.from(`${bytes.length}:`), bytes);
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from('l'));
      v.forEach(walk);
      parts.push(Buffer.from('e'));
    } else {
      parts.push(Buffer.from('d'));
      const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      for (const k of keys) {
        walk(k);
        walk(v[k]!);
      }
      parts.push(Buffer.from('e'));
    }
  };
  walk(value);
  return Buffer.concat(parts);
}
