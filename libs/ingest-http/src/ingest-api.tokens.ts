/** Dependency-injection tokens of the ingest API, in one place (esbuild emits no decorator metadata). */
export const TWINS_RUNTIME = Symbol('TWINS_RUNTIME');
/** `{ document }`: the OpenAPI document, filled in once the app's routes are known. */
export const OPENAPI_DOCUMENT = Symbol('OPENAPI_DOCUMENT');
