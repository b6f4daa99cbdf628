/** A conversation the model's chat format cannot encode; the server answers it with a 400. */
export class ChatEncodingError extends Error {}
