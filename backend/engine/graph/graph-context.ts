import type { ModelConfig } from "../checkpoint/config.ts";
import type { KvCacheDtype, KvPoolPlace } from "../../options.ts";
import type { Rope } from "./rope.ts";
import type { StepInputs } from "./step-inputs.ts";
import type { ModelWeights } from "./weights.ts";

/** What the parts of the model (norms, attention, MLP, MoE) read besides their input, the same for every layer. */
export interface GraphContext {
  config: ModelConfig;
  weights: ModelWeights;
  step: StepInputs;
  rope: Rope;
  kvCacheDtype: KvCacheDtype;
  kvPool: KvPoolPlace;
}
