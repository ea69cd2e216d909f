/** Every error this package throws on bad input: the message names the file, row or column. */
export class CxrDataError extends Error {
  override readonly name = 'CxrDataError';
  constructor(
    message: string,
    readonly file?: string,
    readonly row?: number,
  ) {
    super(message);
  }
}
