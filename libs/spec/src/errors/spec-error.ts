/**
 * Errors of the spec subsystem, one small class per way things go wrong:
 *
 *   SpecError          a spec is not a valid experiment: YAML syntax, shape, a
 *   │                  cross-field rule; carries every issue found, not just the first
 *   └─ DataPathError   a data path is absolute, escapes the data root (by '..' or by a
 *                      symbolic link) or names nothing
 *
 * Each issue names the field by its full dotted path from the document root
 * (`spec.tbptt.stride`, `spec.optimizer.betas[1]`) and says what was expected and what
 * arrived. Catch SpecError to refuse a spec before anything is enqueued.
 */

/** One problem with a spec. */
export interface SpecIssue {
  /** Full dotted path of the field from the document root; '' for the document itself. */
  readonly path: string;
  /** What was expected and what arrived, without the path. */
  readonly message: string;
  /** 1-based line in the YAML text, when the problem has a position there. */
  readonly line?: number;
  /** 1-based column in the YAML text, when the problem has a position there. */
  readonly column?: number;
}

/** Renders one issue the way it appears in SpecError's message: `path: message`. */
export function formatSpecIssue(issue: SpecIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/** A spec is not a valid experiment. The message lists every issue, one per line. */
export class SpecError extends Error {
  /**
   * @param issues every problem found, in document order where known.
   * @param source the file (or other label) the spec came from, for the message header.
   */
  constructor(
    readonly issues: readonly SpecIssue[],
    readonly source?: string,
  ) {
    const where = source === undefined ? '' : ` ${source}`;
    const count = issues.length === 1 ? '1 issue' : `${issues.length} issues`;
    super([`invalid experiment spec${where} (${count}):`, ...issues.map(formatSpecIssue)].join('\n'));
    this.name = new.target.name;
  }
}

/** A data path that the spec may not read: outside the data root, or not there at all. */
export class DataPathError extends SpecError {
  /**
   * @param field the spec field that holds the path, e.g. `spec.data.path`.
   * @param root the configured data root, as given.
   * @param relPath the path from the spec, as given.
   * @param problem what is wrong with it, e.g. `it is absolute`.
   */
  constructor(
    readonly field: string,
    readonly root: string,
    readonly relPath: string,
    readonly problem: string,
  ) {
    super([
      {
        path: field,
        message: `expected a path inside the data root ${root}, got ${JSON.stringify(relPath)}: ${problem}`,
      },
    ]);
  }
}
