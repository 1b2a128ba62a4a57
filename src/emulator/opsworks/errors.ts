// The errors an operation can answer with. The server turns them into AWS JSON 1.1 error bodies
// (`{"__type": ..., "message": ...}`), which the SDK surfaces as `err.name` and `err.message`.

export class OpsWorksError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

export function validationError(message: string): OpsWorksError {
  return new OpsWorksError('ValidationException', message);
}

/** OpsWorks answered a missing resource with 400, not 404. */
export function notFoundError(message: string): OpsWorksError {
  return new OpsWorksError('ResourceNotFoundException', message);
}

/** The body was not the shape the operation takes (a list where a string belongs, and so on). */
export function serializationError(message: string): OpsWorksError {
  return new OpsWorksError('SerializationException', message);
}
