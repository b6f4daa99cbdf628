import type { Command } from "../command.ts";
import { openapi } from "./openapi.ts";
import { serve } from "./serve.ts";
import { tokenize } from "./tokenize.ts";

/** Every `moxie` subcommand, in the order `moxie --help` lists them. */
export const commands: Command[] = [openapi, tokenize, serve];
