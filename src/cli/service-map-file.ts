/** Reading `slipway.yaml` and pointing the problems found in it back at its lines. */
import { readFile } from 'node:fs/promises';
import {
  LineCounter,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  type Document,
  type Node,
} from 'yaml';
import { SlipwayError, ValidationError, parsePath, type Problem } from '../core/index.js';

/** "Map keys must be unique at line 2, column 1:\n\n<snippet>" → "Map keys must be unique (column 1)". */
function yamlMessage(message: string): string {
  const first = message.split('\n')[0] ?? message;
  return first.replace(/ at line \d+, column (\d+):?$/, ' (column $1)');
}

/**
 * Reads and parses a service map file. The document is returned as plain data (validation is
 * the server's job); `text` is kept to locate the problems the server reports. A YAML syntax
 * error throws a `ValidationError` with the file and line of every error.
 */
export async function readServiceMapFile(file: string): Promise<{ doc: unknown; text: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new SlipwayError(
      missing ? 'NOT_FOUND' : 'INVALID',
      missing ? `${file}: no such file` : `cannot read ${file}: ${(e as Error).message}`,
      { file },
      { cause: e },
    );
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  if (document.errors.length > 0) {
    throw new ValidationError(
      `${file} is not valid YAML`,
      document.errors.map((err) => {
        const problem: Problem = { path: '', message: yamlMessage(err.message), file };
        const line = err.linePos?.[0].line;
        if (line !== undefined) problem.line = line;
        return problem;
      }),
    );
  }
  try {
    return { doc: document.toJS(), text };
  } catch (e) {
    // toJS fails on what parses but cannot be built, such as an alias to an undefined anchor.
    throw new ValidationError(`${file} is not valid YAML`, [
      { path: '', message: (e as Error).message, file },
    ]);
  }
}

/** The line (1-based) where the node at `path` starts; the nearest existing ancestor's otherwise. */
function lineOf(document: Document, lineCounter: LineCounter, path: string): number {
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  let node: unknown = document.contents;
  let line = isNodeWithRange(node) ? lineAt(node.range[0]) : 1;
  for (const seg of parsePath(path)) {
    if (isAlias(node)) node = node.resolve(document);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      // The key's line: for a nested mapping, the value starts only on the next line.
      if (isNodeWithRange(pair.key)) line = lineAt(pair.key.range[0]);
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined) break;
      if (isNodeWithRange(item)) line = lineAt(item.range[0]);
      node = item;
    } else {
      break;
    }
  }
  return line;
}

function isNodeWithRange(v: unknown): v is Node & { range: [number, number, number] } {
  return typeof v === 'object' && v !== null && Array.isArray((v as Node).range);
}

/**
 * Fills `file` and `line` of each problem from the YAML text it was found in. A path that does
 * not exist in the file (a required key left out) gets the line of its nearest existing
 * ancestor, which is where the fix goes. What a problem already says is kept.
 */
export function locateProblems(text: string, file: string, problems: Problem[]): Problem[] {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  return problems.map((p) => ({
    ...p,
    file: p.file ?? file,
    line: p.line ?? lineOf(document, lineCounter, p.path),
  }));
}
