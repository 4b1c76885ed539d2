/**
 * A failure the way Azure AI Search reports it: an HTTP status and `{ "error": { "code", "message" } }`.
 * The SDK turns such a body into a RestError carrying `statusCode` and `code`.
 */
export class SearchServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SearchServiceError';
  }

  toBody(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** A bad request parameter, with the service's "Parameter name" suffix. */
export function invalidParameter(parameter: string, message: string): SearchServiceError {
  return new SearchServiceError(400, 'InvalidRequestParameter', `${message}\r\nParameter name: ${parameter}`);
}

/** A request the real service would accept but this stand-in does not implement: loud, never silent. */
export function notSupported(what: string): SearchServiceError {
  return new SearchServiceError(
    400,
    'NotSupportedByTestServer',
    `${what} is not supported by the test server`,
  );
}
