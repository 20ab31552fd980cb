import { tf, type Tensor } from '../tf.js';

/** Whether tfjs is recording operations for a gradient (then intermediates must live until the backward pass). */
export function tapeIsRecording(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

/**
 * Free intermediates as soon as they are used when no gradient is being
 * recorded: inside a scope, tfjs otherwise keeps every one of them until
 * the scope ends. Under a gradient tape this does nothing.
 */
export function freeUntaped(...ts: Tensor[]): void {
  if (tapeIsRecording()) return;
  for (const t of ts) t.dispose();
}
