/** Exit codes of the `unroll` command. */
export const EXIT_OK = 0;
/** Anything that went wrong while running. */
export const EXIT_FAILURE = 1;
/** Bad input: an invalid spec, a bad flag, a data path outside the data root. */
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
