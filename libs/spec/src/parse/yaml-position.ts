/**
 * Where a field sits in the YAML text, so an issue can carry a line and column. The
 * path is walked from the document root; a key that is absent (a missing field)
 * resolves to its nearest present ancestor, and a present key to the key itself.
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export interface TextPosition {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

function startOf(node: Node | null | undefined, lineCounter: LineCounter): TextPosition | undefined {
  const offset = node?.range?.[0];
  if (offset === undefined) return undefined;
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

export function positionOf(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[]): TextPosition | undefined {
  let node: unknown = doc.contents;
  let position = startOf(doc.contents, lineCounter);
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(key));
      if (pair === undefined) break;
      position = isScalar(pair.key) ? (startOf(pair.key, lineCounter) ?? position) : position;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item: unknown = node.items[key];
      if (!isScalar(item) && !isMap(item) && !isSeq(item)) break;
      position = startOf(item, lineCounter) ?? position;
      node = item;
    } else {
      break;
    }
  }
  return position;
}
