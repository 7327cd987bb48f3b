/**
 * tuneAllocator, checked by what glibc does afterwards: a 1 MiB malloc in a fresh
 * process is served by its own mmap (glibc's default threshold is 128 KiB), and
 * after tuneAllocator it is not (mallinfo2().hblks, through mallocIsMapped). Each
 * case runs in a fresh process: the thresholds are process-wide and sticky.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { tuneAllocator } from './allocator';
import { describeNative } from './testing';

const MiB = 1 << 20;

interface Probe {
  before: boolean | null;
  tuning: { applied: boolean; detail: string };
  after1: boolean | null;
  after48: boolean | null;
  after80: boolean | null;
}

/** In a fresh process: probe 1 MiB, tune, probe 1, 48 and 80 MiB. */
function probe(env: NodeJS.ProcessEnv, options = '{}'): Probe {
  const allocator = path.join(__dirname, 'allocator');
  const script = `
    const a = require(${JSON.stringify(allocator)});
    const before = a.mallocIsMapped(${MiB});
    const tuning = a.tuneAllocator(${options});
    console.log(JSON.stringify({ before, tuning, after1: a.mallocIsMapped(${MiB}), after48: a.mallocIsMapped(${48 * MiB}), after80: a.mallocIsMapped(${80 * MiB}) }));`;
  const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Probe;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.MALLOC_MMAP_THRESHOLD_;
  delete env.MALLOC_TRIM_THRESHOLD_;
  delete env.UNROLL_NATIVE;
  return env;
}

const glibc = process.platform === 'linux' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime);
const onGlibc = glibc ? describeNative : describe.skip;

onGlibc('tuneAllocator (glibc)', () => {
  it('moves 1 MiB blocks from their own mmap to the heap, up to the threshold', () => {
    const p = probe(cleanEnv());
    expect(p.before).toBe(true);
    expect(p.tuning).toEqual({ applied: true, detail: `glibc M_MMAP_THRESHOLD=${64 * MiB}, M_TRIM_THRESHOLD=${256 * MiB}` });
    expect(p.after1).toBe(false);
    expect(p.after48).toBe(false);
    expect(p.after80).toBe(true);
  });

  it('takes the thresholds it is given', () => {
    const p = probe(cleanEnv(), `{ mmapThresholdBytes: ${32 * MiB} }`);
    expect(p.tuning.applied).toBe(true);
    expect(p.after1).toBe(false);
    expect(p.after48).toBe(true);
  });

  it('leaves the allocator to the environment when MALLOC_MMAP_THRESHOLD_ is set', () => {
    // The variable (read by glibc at start) keeps 1 MiB blocks in the heap by itself; tuneAllocator changes nothing.
    const p = probe({ ...cleanEnv(), MALLOC_MMAP_THRESHOLD_: String(2 * MiB) });
    expect(p.before).toBe(false);
    expect(p.tuning).toEqual({ applied: false, detail: `left to the environment (MALLOC_MMAP_THRESHOLD_=${2 * MiB})` });
    expect(p.after48).toBe(true); // the environment's 2 MiB still rules, not the default 64 MiB
  });

  it('changes nothing with UNROLL_NATIVE=0', () => {
    const p = probe({ ...cleanEnv(), UNROLL_NATIVE: '0' });
    expect(p.tuning).toEqual({ applied: false, detail: 'native addon disabled by UNROLL_NATIVE=0' });
  });

  it('refuses invalid thresholds with a message naming the field', () => {
    expect(() => tuneAllocator({ trimThresholdBytes: -1 })).toThrow('tuneAllocator trimThresholdBytes must be an integer in 1..2^31-1, got -1');
  });
});
