/** Raised for problems the user can fix (bad flags, missing keys); printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
