import type { Engine } from "../engine/engine.ts";
import { Scheduler, type SchedulerConfig, type StepOutput } from "../scheduler/scheduler.ts";
import type { SchedulerOutput } from "../scheduler/scheduler-output.ts";
import { ModelRunner } from "./model-runner.ts";

/**
 * One generation step at a time, as vLLM v1's EngineCore.step: the scheduler plans
 * (Scheduler.schedule), the model runner executes the plan (forward, grammar masks, sampling),
 * and the scheduler updates its sequences from what the runner returns (Scheduler.update).
 */
export class EngineCore {
  readonly scheduler: Scheduler;
  private readonly runner: ModelRunner;

  constructor(engine: Engine, config: SchedulerConfig) {
    this.scheduler = new Scheduler(engine.shape, config);
    this.runner = new ModelRunner(engine);
  }

  /**
   * Frees what ended since the last step, samples the logits that waited for a grammar mask (a
   * sequence that gets its token now decodes in this step), then schedule → execute → update.
   */
  async step(): Promise<StepOutput[]> {
    this.scheduler.freeFinished();
    const outputs = await this.execute(this.scheduler.scheduleResumed());
    const plan = this.scheduler.schedule();
    if (plan.chunks.length === 0) {
      // Only sequences waiting for a grammar mask are left: wait for the first one rather than spin.
      const deferred = this.scheduler.deferred();
      if (outputs.length === 0 && deferred.length > 0) await this.runner.firstMask(deferred);
      return outputs;
    }
    outputs.push(...(await this.execute(plan)));
    this.scheduler.freeFinished();
    return outputs;
  }

  private async execute(plan: SchedulerOutput): Promise<StepOutput[]> {
    return this.scheduler.update(plan, await this.runner.execute(plan));
  }
}
