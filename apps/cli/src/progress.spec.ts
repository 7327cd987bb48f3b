import { LivePrinter } from './progress';

describe('LivePrinter', () => {
  it('rewrites the line in place on a terminal and ends it before a message', () => {
    let out = '';
    const p = new LivePrinter({ write: (t) => void (out += t), isTTY: true });
    p.show('step 1/3', false);
    p.show('step 2/3', false);
    p.message('done');
    expect(out).toBe('\r\x1b[2Kstep 1/3\r\x1b[2Kstep 2/3\ndone\n');
  });

  it('on a pipe prints at most one line per interval, and always the last', () => {
    let out = '';
    const p = new LivePrinter({ write: (t) => void (out += t), isTTY: false }, 60_000);
    p.show('step 1/3', false);
    p.show('step 2/3', false);
    p.show('step 3/3', true);
    p.end();
    expect(out).toBe('step 1/3\nstep 3/3\n');
  });
});
