import { closestName, editDistance } from './closest-name';

describe('closestName', () => {
  it('measures edits', () => {
    expect(editDistance('windw', 'window')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests a near name, ignoring case, and nothing for a far one', () => {
    expect(closestName('microbatch', ['streams', 'microBatch'])).toBe('microBatch');
    expect(closestName('stide', ['stride', 'window'])).toBe('stride');
    expect(closestName('lr', ['seed', 'steps'])).toBeUndefined();
    expect(closestName('learningRate', ['lr'])).toBeUndefined();
  });
});
