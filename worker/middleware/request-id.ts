import { requestId as honoRequestId } from "hono/request-id";

/** `x-request-id`: the client's if it sent a sane one, else a new UUID; echoed on every response. */
export const requestId = () => honoRequestId({ headerName: "x-request-id" });
