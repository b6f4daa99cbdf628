// ESLint's flat config: JavaScript's and typescript-eslint's recommended rules; Prettier owns formatting.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", ".moxie/", ".wrangler/", "bench/out/", "test-output/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
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
  // The console's files are ES modules that run in the browser.
  { files: ["console/**/*.js"], languageOptions: { globals: globals.browser } },
);
