import type { Command } from "../command.ts";
import { bench } from "./bench.ts";
import { dev } from "./dev.ts";
import { embed } from "./embed.ts";
import { generate } from "./generate.ts";
import { inspect } from "./inspect.ts";
import { keys } from "./keys.ts";
import { makeCheckpoint } from "./make-checkpoint.ts";
import { openapi } from "./openapi.ts";
import { score } from "./score.ts";
import { serve } from "./serve.ts";
import { tokenize } from "./tokenize.ts";

/** Every `moxie` subcommand, in the order `moxie --help` lists them. */
export const commands: Command[] = [
  dev,
  serve,
  keys,
  makeCheckpoint,
  inspect,
  tokenize,
  score,
  generate,
  embed,
  bench,
  openapi,
];
