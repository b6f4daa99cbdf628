/**
 * Hugging Face tensor names of the Mixtral / Mistral / Llama decoder, in one place: the checkpoint
 * validator (expectedTensors) and the graph builder both read them from here.
 */
export const tensorNames = {
  embedding: "model.embed_tokens.weight",
  finalNorm: "model.norm.weight",
  lmHead: "lm_head.weight",
  layer(layer: number) {
    const prefix = `model.layers.${layer}`;
    return {
      prefix,
      inputNorm: `${prefix}.input_layernorm.weight`,
      postAttentionNorm: `${prefix}.post_attention_layernorm.weight`,
      query: `${prefix}.self_attn.q_proj.weight`,
      key: `${prefix}.self_attn.k_proj.weight`,
      value: `${prefix}.self_attn.v_proj.weight`,
      output: `${prefix}.self_attn.o_proj.weight`,
      /** Mixtral's router. */
      router: `${prefix}.block_sparse_moe.gate.weight`,
      /** Mixtral's expert e: w1 = gate, w3 = up, w2 = down. */
      expert: (e: number) => {
        const expert = `${prefix}.block_sparse_moe.experts.${e}`;
        return { prefix: expert, gate: `${expert}.w1.weight`, up: `${expert}.w3.weight`, down: `${expert}.w2.weight` };
      },
      /** The dense MLP of Mistral and Llama. */
      mlp: {
        prefix: `${prefix}.mlp`,
        gate: `${prefix}.mlp.gate_proj.weight`,
        up: `${prefix}.mlp.up_proj.weight`,
        down: `${prefix}.mlp.down_proj.weight`,
      },
    };
  },
};
