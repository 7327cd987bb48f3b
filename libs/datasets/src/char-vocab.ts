/**
 * A character vocabulary: the distinct code points of a text, sorted, plus one
 * replacement token (U+FFFD) for characters never seen. Stored in a checkpoint's
 * safetensors `__metadata__` as `vocab`: a JSON list of tokens in index order.
 */
export const UNKNOWN_TOKEN = '\uFFFD';

export class VocabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VocabError';
  }
}

export class CharVocab {
  private readonly index = new Map<string, number>();
  readonly unknownId: number;

  constructor(readonly tokens: readonly string[]) {
    tokens.forEach((t, i) => {
      if (this.index.has(t)) throw new VocabError(`vocabulary lists token ${JSON.stringify(t)} twice`);
      this.index.set(t, i);
    });
    const unk = this.index.get(UNKNOWN_TOKEN);
    if (unk === undefined) throw new VocabError('vocabulary has no replacement token U+FFFD');
    this.unknownId = unk;
  }

  static fromText(text: string): CharVocab {
    const chars = new Set<string>();
    for (const ch of text) chars.add(ch);
    chars.delete(UNKNOWN_TOKEN);
    const sorted = [...chars].sort((a, b) => (a.codePointAt(0) as number) - (b.codePointAt(0) as number));
    return new CharVocab([...sorted, UNKNOWN_TOKEN]);
  }

  static fromJSON(json: string): CharVocab {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (e) {
      throw new VocabError(`vocab metadata is not JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((t) => typeof t === 'string')) throw new VocabError('vocab metadata must be a JSON list of strings');
    return new CharVocab(parsed as string[]);
  }

  get size(): number {
    return this.tokens.length;
  }

  encode(text: string): Int32Array {
    const out: number[] = [];
    for (const ch of text) out.push(this.index.get(ch) ?? this.unknownId);
    return Int32Array.from(out);
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) s += this.tokens[ids[i]] ?? UNKNOWN_TOKEN;
    return s;
  }

  toJSON(): string {
    return JSON.stringify(this.tokens);
  }
}
