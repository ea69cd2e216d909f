// A minimal ResNet18 (torchvision topology: 7x7/2 stem with explicit pad 3, 3x3/2 max pool pad 1,
// BasicBlocks 2-2-2-2, 1x1/2 downsample, BN from batch moments, global mean, fc) on plain tfjs ops,
// standing in for @moco-cxr/backbones until it exists. One SGD-momentum training step, timed.
import * as tf from '@tensorflow/tfjs-core';

function he(shape, rng) {
  const fanIn = shape[0] * shape[1] * shape[2];
  return tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', rng()), Math.sqrt(2 / fanIn)));
}

export function buildResNet18(numClasses = 10, seed = 1) {
  let s = seed;
  const rng = () => ++s;
  const vars = [];
  const bns = [];
  const conv = (k, ci, co) => {
    const w = he([k, k, ci, co], rng);
    vars.push(w);
    return w;
  };
  const bn = (c) => {
    const p = { gamma: tf.variable(tf.ones([c])), beta: tf.variable(tf.zeros([c])), mean: tf.variable(tf.zeros([c]), false), var: tf.variable(tf.ones([c]), false) };
    vars.push(p.gamma, p.beta);
    bns.push(p);
    return p;
  };
  const stem = { w: conv(7, 3, 64), bn: bn(64) };
  const layers = [];
  let ci = 64;
  for (const [co, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]]) {
    const blocks = [];
    for (let b = 0; b < 2; b++) {
      const st = b === 0 ? stride : 1;
      const blk = { stride: st, w1: conv(3, ci, co), bn1: bn(co), w2: conv(3, co, co), bn2: bn(co) };
      if (st !== 1 || ci !== co) {
        blk.wd = conv(1, ci, co);
        blk.bnd = bn(co);
      }
      blocks.push(blk);
      ci = co;
    }
    layers.push(blocks);
  }
  const fcW = tf.variable(tf.mul(tf.randomNormal([512, numClasses], 0, 1, 'float32', rng()), Math.sqrt(1 / 512)));
  const fcB = tf.variable(tf.zeros([numClasses]));
  vars.push(fcW, fcB);

  const batchNorm = (x, p, training) => {
    if (!training) return tf.batchNorm(x, p.mean, p.var, p.beta, p.gamma, 1e-5);
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    // torchvision momentum 0.1 for the running estimates (no gradient flows through assign).
    tf.tidy(() => {
      p.mean.assign(tf.add(tf.mul(p.mean, 0.9), tf.mul(mean, 0.1)));
      p.var.assign(tf.add(tf.mul(p.var, 0.9), tf.mul(variance, 0.1)));
    });
    return tf.batchNorm(x, mean, variance, p.beta, p.gamma, 1e-5);
  };
  const pad = (p) => [[0, 0], [p, p], [p, p], [0, 0]];
  const forward = (x, training) => {
    let y = tf.relu(batchNorm(tf.conv2d(x, stem.w, 2, pad(3)), stem.bn, training));
    y = tf.maxPool(y, 3, 2, 1);
    for (const blocks of layers) {
      for (const b of blocks) {
        let h = tf.relu(batchNorm(tf.conv2d(y, b.w1, b.stride, pad(1)), b.bn1, training));
        h = batchNorm(tf.conv2d(h, b.w2, 1, pad(1)), b.bn2, training);
        const sc = b.wd ? batchNorm(tf.conv2d(y, b.wd, b.stride, 'valid'), b.bnd, training) : y;
        y = tf.relu(tf.add(h, sc));
      }
    }
    const pooled = tf.mean(y, [1, 2]);
    return tf.add(tf.matMul(pooled, fcW), fcB);
  };
  return { vars, forward, dispose: () => { for (const v of vars) v.dispose(); for (const p of bns) { p.mean.dispose(); p.var.dispose(); } } };
}

/** One training step: forward, softmax cross-entropy, backward, SGD momentum update. */
export function makeStep(model, lr = 0.01) {
  const opt = tf.train.momentum(lr, 0.9);
  return (x, labels) => {
    const cost = opt.minimize(() => {
      const logits = model.forward(x, true);
      return tf.losses.softmaxCrossEntropy(labels, logits);
    }, true, model.vars);
    const v = cost.dataSync()[0];
    cost.dispose();
    return v;
  };
}
