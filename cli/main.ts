import { helpText, parseCommandArgs, UsageError, type Command } from "./command.ts";
import { commands } from "./commands/index.ts";

function overview(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    "usage: moxie <command> [options]",
    "",
    "Serve sparse mixture-of-experts models (Mixtral) behind a Mistral-compatible API.",
    "",
    "commands:",
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "Run `moxie <command> --help` for a command's options.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(overview());
    return 0;
  }
  const command = commands.find((candidate): candidate is Command => candidate.name === name);
  if (!command) {
    console.error(`moxie: unknown command '${name}'\n\n${overview()}`);
    return 2;
  }
  try {
    const parsed = parseCommandArgs(command, rest);
    if (parsed === "help") {
      console.log(helpText(command));
      return 0;
    }
    await command.run(parsed.values, parsed.positionals);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`moxie ${command.name}: ${error.message}\n\n${helpText(command)}`);
      return 2;
    }
    console.error(`moxie ${command.name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
