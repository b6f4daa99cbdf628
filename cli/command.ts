import { parseArgs } from "node:util";

/** One flag of a subcommand; the help text is generated from these. */
export interface Option {
  type: "string" | "boolean";
  description: string;
  default?: string;
  required?: boolean;
  placeholder?: string;
}

type Values<O extends Record<string, Option>> = {
  [K in keyof O]: O[K]["type"] extends "boolean"
    ? boolean
    : O[K]["required"] extends true
      ? string
      : O[K]["default"] extends string
        ? string
        : string | undefined;
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

export function helpText(command: Command): string {
  const rows = Object.entries(command.options).map(([name, option]) => {
    const flag = option.type === "boolean" ? `--${name}` : `--${name} ${option.placeholder ?? name.toUpperCase()}`;
    const notes = [option.required ? "required" : "", option.default !== undefined ? `default ${option.default}` : ""].filter(Boolean);
    return [flag, option.description + (notes.length ? ` (${notes.join(", ")})` : "")];
  });
  rows.push(["--help", "show this help"]);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    `usage: moxie ${command.name}${command.positionals ? ` ${command.positionals}` : ""} [options]`,
    "",
    command.summary,
    "",
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
  ].join("\n");
}

/** Parses argv against the command's option table: unknown flags and missing required ones are usage errors. */
export function parseCommandArgs<O extends Record<string, Option>>(
  command: Command<O>,
  argv: string[],
): { values: Values<O>; positionals: string[] } | "help" {
  const options = Object.fromEntries(
    Object.entries(command.options).map(([name, option]) => [name, { type: option.type, default: option.default }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: "boolean" } }, strict: true, allowPositionals: command.positionals !== undefined });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values: Record<string, string | boolean | undefined> = parsed.values;
  if (values.help) return "help";
  for (const [name, option] of Object.entries(command.options)) {
    if (option.required && values[name] === undefined) throw new UsageError(`--${name} is required`);
    if (option.type === "boolean" && values[name] === undefined) values[name] = false;
  }
  delete values.help;
  return { values: values as Values<O>, positionals: parsed.positionals };
}
