import { openApiDocument } from "../../protocol/openapi.ts";
import { defineCommand } from "../command.ts";

export const openapi = defineCommand({
  name: "openapi",
  summary: "print the OpenAPI 3.1 document of the public API (generated from protocol/)",
  options: {},
  run() {
    console.log(JSON.stringify(openApiDocument(), null, 2));
    return Promise.resolve();
  },
});
