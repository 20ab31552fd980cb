/** The inference-engine options of `predict` and `eval model`. */
export interface EngineOptions {
  engine?: string;
  device?: string;
  threads?: number;
}
