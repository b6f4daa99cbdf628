import { parseArgs } from "node:util";

/**
 * One flag of a subcommand. The table is the single source of the help text, the parsing and
 * the types of `values`: integers and numbers arrive as numbers, `choices` as their union.
 */
export interface Option {
  type: "string" | "boolean" | "integer" | "number";
  description: string;
  /** As typed on the command line (shown in the help), converted like a given value. */
  default?: string;
  required?: boolean;
  placeholder?: string;
  /** Accepted range of an integer or number. */
  min?: number;
  max?: number;
  /** The only accepted values of a string. */
  choices?: readonly string[];
}

type Scalar<O extends Option> = O["type"] extends "boolean"
  ? boolean
  : O["type"] extends "integer" | "number"
    ? number
    : O["choices"] extends readonly string[]
      ? O["choices"][number]
      : string;

/** The parsed flags of an option table, typed from it. */
export type Values<O extends Record<string, Option>> = {
  [K in keyof O]: O[K]["type"] extends "boolean"
    ? boolean
    : O[K]["required"] extends true
      ? Scalar<O[K]>
      : O[K]["default"] extends string
        ? Scalar<O[K]>
        : Scalar<O[K]> | undefined;
};

export interface Command<O extends Record<string, Option> = Record<string, Option>> {
  name: string;
  summary: string;
  /** Positional arguments for the usage line, e.g. "<create|list|revoke> [ID]"; absent = none accepted. */
  positionals?: string;
  options: O;
  run(values: Values<O>, positionals: string[]): Promise<void>;
}

/** Identity with inference: lets each command file get typed `values` from its own option table. */
export function defineCommand<const O extends Record<string, Option>>(command: Command<O>): Command<O> {
  return command;
}

/** Thrown for a usage mistake: printed without a stack, exit code 2. */
export class UsageError extends Error {}

/** `program` is what the usage line runs: `moxie` for commands, the runner for a bench script. */
export function helpText(
  command: Pick<Command, "name" | "summary" | "positionals" | "options">,
  program = "moxie",
): string {
  const rows = Object.entries(command.options).map(([name, option]) => {
    const placeholder =
      option.placeholder ?? option.choices?.join("|") ?? (option.type === "string" ? name.toUpperCase() : "N");
    const flag = option.type === "boolean" ? `--${name}` : `--${name} ${placeholder}`;
    const notes = [
      option.required ? "required" : "",
      option.default !== undefined ? `default ${option.default}` : "",
    ].filter(Boolean);
    return [flag, option.description + (notes.length ? ` (${notes.join(", ")})` : "")];
  });
  rows.push(["--help", "show this help"]);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    `usage: ${program} ${command.name}${command.positionals ? ` ${command.positionals}` : ""} [options]`,
    "",
    command.summary,
    "",
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
  ].join("\n");
}

/** Parses argv against the command's option table: unknown flags and missing required ones are usage errors. */
export function parseCommandArgs<O extends Record<string, Option>>(
  command: Pick<Command<O>, "options" | "positionals">,
  argv: string[],
): { values: Values<O>; positionals: string[] } | "help" {
  const options = Object.fromEntries(
    Object.entries(command.options).map(
      ([name, option]) =>
        [name, { type: option.type === "boolean" ? "boolean" : "string", default: option.default }] as const,
    ),
  );
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean" } },
      strict: true,
      allowPositionals: command.positionals !== undefined,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values: Record<string, string | number | boolean | undefined> = parsed.values;
  if (values.help) return "help";
  for (const [name, option] of Object.entries(command.options)) {
    const given = values[name];
    if (option.required && given === undefined) throw new UsageError(`--${name} is required`);
    if (option.type === "boolean") values[name] = given ?? false;
    else if (typeof given === "string") values[name] = convert(name, option, given);
  }
  delete values.help;
  return { values: values as Values<O>, positionals: parsed.positionals };
}

/**
 * A bench script's flags, from the same kind of table as a command's: typed values, `--help`, and
 * a usage mistake printed with the help (exit code 2), so scripts need no parsing of their own.
 */
export function parseScriptArgs<const O extends Record<string, Option>>(
  script: { name: string; summary: string; options: O },
  program = "npx tsx",
): Values<O> {
  try {
    const parsed = parseCommandArgs(script, process.argv.slice(2));
    if (parsed !== "help") return parsed.values;
    console.log(helpText(script, program));
    process.exit(0);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${script.name}: ${error.message}\n\n${helpText(script, program)}`);
    process.exit(2);
  }
}

function convert(name: string, option: Option, text: string): string | number {
  if (option.type === "string") {
    if (option.choices && !option.choices.includes(text))
      throw new UsageError(`--${name} must be one of ${option.choices.join(", ")}, got '${text}'`);
    return text;
  }
  const number = Number(text);
  const valid = text.trim() !== "" && (option.type === "integer" ? Number.isInteger(number) : Number.isFinite(number));
  if (!valid)
    throw new UsageError(`--${name} must be ${option.type === "integer" ? "an integer" : "a number"}, got '${text}'`);
  if (option.min !== undefined && number < option.min)
    throw new UsageError(`--${name} must be at least ${option.min}, got '${text}'`);
  if (option.max !== undefined && number > option.max)
    throw new UsageError(`--${name} must be at most ${option.max}, got '${text}'`);
  return number;
}

/** "1,8" → [1, 8]: a comma-separated list of integers of at least `min`. */
export function integerList(text: string, name: string, min = 0): number[] {
  const parts = text.split(",").map((part) => part.trim());
  if (parts.some((part) => !/^\d+$/.test(part) || Number(part) < min))
    throw new UsageError(`--${name} must be comma-separated integers of at least ${min}, got '${text}'`);
  return parts.map(Number);
}

const byteUnits: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * "8GiB", "512MiB", "2.5GB", "1048576" → bytes. Hand-written because the usual package (bytes)
 * reads "GB" as 2^30 and knows no "GiB"; here both mean what they say.
 */
export function byteSize(text: string, name: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = byteUnits[match?.[2].toLowerCase() ?? "?"];
  if (!match || unit === undefined || Number(match[1]) <= 0)
    throw new UsageError(`--${name} must be a size such as 8GiB, 512MiB or 2GB, got '${text}'`);
  return Math.floor(Number(match[1]) * unit);
}
