import { describe, expect, it } from 'vitest';
import { linearHeadFromJson, linearHeadToJson, scoreFeatures, type LinearHead } from './index';

describe('linear head JSON', () => {
  const head: LinearHead = { featureDim: 3, tasks: 2, weight: Float32Array.from([0.1, -2.5e-7, 3.3, 1 / 3, -1e-30, 7]), bias: Float32Array.from([0.7, -0.2]) };

  it('round-trips through JSON text bit for bit, so saved heads score as the trained ones', () => {
    const back = linearHeadFromJson(JSON.parse(JSON.stringify(linearHeadToJson(head))));
    expect(back).toEqual(head);
    const features = Float32Array.from([1, 2, 3, -1, 0.5, 0.25]);
    expect(scoreFeatures(back, features)).toEqual(scoreFeatures(head, features));
  });

  it('names the file and field of a damaged head', () => {
    const ok = linearHeadToJson(head);
    expect(() => linearHeadFromJson({ ...ok, weight: ok.weight.slice(1) }, 'run/head.json')).toThrow('run/head.json: weight must hold 6 numbers (2 x 3), got 5');
    expect(() => linearHeadFromJson({ ...ok, bias: [0, 'x'] }, 'run/head.json')).toThrow('run/head.json: bias[1] is "x"; expected a finite number');
    expect(() => linearHeadFromJson({ ...ok, tasks: 0 }, 'run/head.json')).toThrow('run/head.json: tasks must be a positive integer, got 0');
    expect(() => linearHeadFromJson([], 'h.json')).toThrow('h.json: expected a linear head object, got []');
  });
});
