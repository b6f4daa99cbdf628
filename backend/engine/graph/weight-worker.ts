// A weight conversion thread (weight-jobs.ts): runs each job it is sent against the graph's data file.
import { openSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { runWeightJob, type WeightJob } from "./weight-jobs.ts";

const fd = openSync((workerData as { dataPath: string }).dataPath, "r+");
parentPort!.on("message", (job: WeightJob) => {
  try {
    runWeightJob(job, fd);
    parentPort!.postMessage({});
  } catch (error) {
    parentPort!.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
