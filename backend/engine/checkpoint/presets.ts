/** Model shapes `moxie make-checkpoint` can write, as transformers-4 config.json files (the way mistralai ships Mixtral). */
const mixtral = (shape: { hidden: number; ffn: number; layers: number; heads: number; kvHeads: number }) => ({
  architectures: ["MixtralForCausalLM"],
  model_type: "mixtral",
  attention_dropout: 0.0,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: shape.hidden,
  initializer_range: 0.02,
  intermediate_size: shape.ffn,
  max_position_embeddings: 32768,
  num_attention_heads: shape.heads,
  num_experts_per_tok: 2,
  num_hidden_layers: shape.layers,
  num_key_value_heads: shape.kvHeads,
  num_local_experts: 8,
  output_router_logits: false,
  rms_norm_eps: 1e-5,
  rope_theta: 1e6,
  router_aux_loss_coef: 0.02,
  sliding_window: null,
  tie_word_embeddings: false,
  torch_dtype: "float32",
  use_cache: true,
  vocab_size: 32000,
});

export const presets = {
  tiny: mixtral({ hidden: 256, ffn: 512, layers: 4, heads: 8, kvHeads: 4 }),
  mini: mixtral({ hidden: 1024, ffn: 3584, layers: 8, heads: 32, kvHeads: 8 }),
  "mixtral-8x7b": mixtral({ hidden: 4096, ffn: 14336, layers: 32, heads: 32, kvHeads: 8 }),
};
export type PresetName = keyof typeof presets;
