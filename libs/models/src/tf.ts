/**
 * The one TensorFlow.js entry point of Unroll.
 *
 * tfjs-core's CommonJS bundle registers no gradient functions. tfjs-layers' node
 * bundle carries core's gradient configs and registers all of them in the global
 * registry when it loads, so importing it once here makes `tf.grads` work on every
 * backend. Everything in Unroll imports `tf` from this file.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';

export { tf };
