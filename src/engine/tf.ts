/**
 * The one place densekit imports tfjs from. The full `@tensorflow/tfjs`
 * package is used (not tfjs-core alone) because it is what registers the
 * gradient functions of the ops.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor3D = tf.Tensor3D;
export type Tensor4D = tf.Tensor4D;
export type Variable = tf.Variable;

// Silence tfjs' console hints (e.g. "install tfjs-node"): densekit reports the
// backend it chose itself.
tf.env().set('PROD', true);
