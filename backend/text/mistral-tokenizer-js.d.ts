// mistral-tokenizer-js ships no types; these are the fields tokenizer-files.ts reads.
declare module "mistral-tokenizer-js" {
  const mistralTokenizer: {
    /** Token spelling by id (Mixtral's 32000-entry SentencePiece vocabulary). */
    vocabById: string[];
    /** "left right" (the two tokens' spellings) → merge priority, lower merges first. */
    merges: Map<string, number>;
  };
  export default mistralTokenizer;
}
