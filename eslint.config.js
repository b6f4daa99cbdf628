// ESLint's flat config: JavaScript's and typescript-eslint's type-checked recommended rules; Prettier owns formatting.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", ".moxie/", ".wrangler/", "bench/out/", "test-output/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // Both programs: the Node one (tsconfig.json) and the gateway's, with workerd's types (gateway/tsconfig.json).
      parserOptions: { project: ["./tsconfig.json", "./gateway/tsconfig.json"], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Unused names are already errors in tsc (noUnusedLocals, noUnusedParameters); `_`-prefixed ones are meant.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // `interface Env extends Cloudflare.Env {}` is how workers-types lets a project name its bindings.
      "@typescript-eslint/no-empty-object-type": ["error", { allowInterfaces: "with-single-extends" }],
    },
  },
  {
    // Tests and benchmarks read JSON answers of whatever shape a server sends, and their assertions
    // check that shape: the rules against `any` flowing on would only add casts there. Their fakes
    // implement async interfaces without awaiting, and they stringify SDK values whose declared
    // types are wider than what moxie sends (a Mistral delta's content may be chunks).
    files: ["test/**", "bench/**"],
    rules: {
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-base-to-string": "off",
      "@typescript-eslint/restrict-plus-operands": "off",
      "@typescript-eslint/restrict-template-expressions": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
    },
  },
  // Plain JavaScript is type-checked by tsc where it is (console/tsconfig.json), not by these rules.
  { files: ["**/*.js", "**/*.mjs"], ...tseslint.configs.disableTypeChecked },
  // The console's files are ES modules that run in the browser.
  { files: ["console/**/*.js"], languageOptions: { globals: globals.browser } },
);
