import { FailureListeners } from './failure-listeners';

describe('FailureListeners', () => {
  it('tells each listener once, skips removed ones, answers late ones at once, and keeps the first failure', () => {
    const f = new FailureListeners();
    const heard: string[] = [];
    const removeA = f.add((e) => heard.push(`a ${e.message}`));
    f.add((e) => heard.push(`b ${e.message}`));
    removeA();
    expect(f.fail(new Error('first'))).toBe(true);
    expect(f.fail(new Error('second'))).toBe(false);
    f.add((e) => heard.push(`late ${e.message}`));
    expect(heard).toEqual(['b first', 'late first']);
    expect(f.error?.message).toBe('first');
  });

  it('tells the other listeners when one throws, and does not throw itself', () => {
    const f = new FailureListeners();
    const heard: string[] = [];
    f.add(() => {
      throw new Error('listener bug');
    });
    f.add((e) => heard.push(e.message));
    expect(() => f.fail(new Error('edge down'))).not.toThrow();
    expect(heard).toEqual(['edge down']);
  });
});
