/**
 * deploy/k8s, rendered offline with `kubectl kustomize` for each overlay and checked
 * for the properties the processes depend on: the flags they accept (their own
 * parseArgs tables), Redis's noeviction policy, credentials only by Secret
 * reference, one key prefix, the worker's ring port = its declared port = its gRPC
 * probes, BLAS threads from whole-core CPU limits, limits everywhere, non-root and
 * read-only containers, and what makes the GPU overlay a GPU deployment. Also the
 * images (deploy/docker) against what the manifests assume of them.
 *
 * Not checked here: that the images build or that a cluster accepts and runs the
 * objects (`kubectl apply --dry-run=server` needs an API server).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  bytes,
  cores,
  flagValue,
  kustomize,
  mainOfBin,
  named,
  optionTable,
  podOf,
  REPO_ROOT,
  stringArrayConst,
  workloads,
  type Container,
  type K8sObject,
  type PodSpec,
} from './rendered';

const OVERLAYS = ['cpu', 'gpu'] as const;
const WORKER = 'unroll-worker';
const COORDINATOR = 'unroll-coordinator';
const REDIS = 'unroll-redis';

/** The app's bin in a `node [node flags…] apps/<app>/bin/<bin>.js` command. */
function binOf(c: Container): string | undefined {
  if (c.command?.[0] !== 'node') return undefined;
  const rest = c.command.slice(1);
  const i = rest.findIndex((a) => !a.startsWith('--'));
  return i >= 0 && /^apps\/[^/]+\/bin\//.test(rest[i]) && i === rest.length - 1 ? rest[i] : undefined;
}

/** The Unroll containers (those that run an app's bin) with their pod. */
function unrollContainers(objects: K8sObject[]): Array<{ workload: string; pod: PodSpec; c: Container }> {
  return workloads(objects).flatMap((w) =>
    [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers]
      .filter((c) => binOf(c) !== undefined)
      .map((c) => ({ workload: w.metadata.name, pod: w.spec.template.spec, c })),
  );
}

function container(objects: K8sObject[], deployment: string, name: string): Container {
  const c = podOf(objects, deployment).containers.find((x) => x.name === name);
  if (!c) throw new Error(`Deployment ${deployment} has no container ${name}`);
  return c;
}

function env(c: Container, name: string) {
  return c.env?.find((e) => e.name === name);
}

function image(dockerfile: string): string {
  return readFileSync(path.join(REPO_ROOT, 'deploy/docker', dockerfile), 'utf8');
}

describe.each(OVERLAYS)('deploy/k8s/overlays/%s', (overlay) => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = kustomize(`deploy/k8s/overlays/${overlay}`);
  });

  it('renders Redis, the coordinator, the workers, their ServiceAccount and the shared volume', () => {
    for (const [kind, name] of [['Deployment', REDIS], ['Service', REDIS], ['Deployment', COORDINATOR], ['Deployment', WORKER], ['ServiceAccount', 'unroll'], ['PersistentVolumeClaim', 'unroll-shared']]) {
      expect(named(objects, kind, name).metadata.labels).toMatchObject({ 'app.kubernetes.io/part-of': 'unroll' });
    }
    expect(podOf(objects, COORDINATOR).containers).toHaveLength(1);
    expect(named(objects, 'Deployment', COORDINATOR).spec?.replicas).toBe(1);
    expect(named(objects, 'Deployment', WORKER).spec?.replicas).toBeGreaterThanOrEqual(1);
  });

  it("runs every Unroll container's command from a bin that exists, with only the flags that app's parseArgs accepts", () => {
    const found = unrollContainers(objects);
    expect(found.map((f) => f.workload).sort()).toEqual([COORDINATOR, WORKER]);
    for (const { workload, c } of found) {
      expect(c.workingDir).toBe('/app');
      const main = mainOfBin(binOf(c) as string);
      // Node's own flags before the bin must be ones node accepts on its command line.
      for (const flag of (c.command ?? []).slice(1, -1)) expect(spawnSync(process.execPath, [flag, '-e', '0']).status).toBe(0);
      const options = optionTable(main);
      // Kubernetes expands $(VAR) in args from the container's env only: each one must be defined there.
      const args = (c.args ?? []).map((a) =>
        a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, v: string) => {
          if (!env(c, v)) throw new Error(`${workload}/${c.name}: args use $(${v}), which its env does not define`);
          return 'expanded';
        }),
      );
      // Exactly what the process does with its argv (strict: an unknown flag or a missing value throws).
      try {
        parseArgs({ args, options, strict: true, allowPositionals: false });
      } catch (e) {
        throw new Error(`${workload}/${c.name} (${main}): ${(e as Error).message}; it accepts --${Object.keys(options).join(', --')}`);
      }
    }
  });

  it('configures Redis with maxmemory-policy noeviction, read from the mounted redis.conf, below its memory limit', () => {
    const pod = podOf(objects, REDIS);
    const redis = pod.containers[0];
    expect(redis.command).toEqual(['redis-server']);
    const confPath = redis.args?.[0] as string;
    const mount = redis.volumeMounts?.find((m) => confPath.startsWith(`${m.mountPath}/`));
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    const conf = named(objects, 'ConfigMap', volume?.configMap?.name as string).data?.[path.basename(confPath)] as string;
    const directives = new Map(
      conf
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => [l.split(/\s+/)[0], l.slice(l.split(/\s+/)[0].length).trim()] as const),
    );
    expect(directives.get('maxmemory-policy')).toBe('noeviction');
    // Nothing on the command line overrides it.
    expect(redis.args?.filter((a) => a.startsWith('--maxmemory'))).toEqual([]);
    expect(bytes(directives.get('maxmemory'))).toBeLessThan(bytes(redis.resources?.limits?.memory));
    // The Service reaches this pod.
    const service = named(objects, 'Service', REDIS);
    expect(named(objects, 'Deployment', REDIS).spec?.template?.metadata.labels).toMatchObject(service.spec?.selector as Record<string, string>);
    expect(service.spec?.ports?.map((p) => p.port)).toEqual([6379]);
  });

  it('holds no credential: no Secret objects, REDIS_URL and the Redis password only by secretKeyRef, no literal Redis URL', () => {
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    const all = workloads(objects).flatMap((w) => [...w.spec.template.spec.containers, ...(w.spec.template.spec.initContainers ?? [])]);
    for (const c of all) {
      for (const e of c.env ?? []) {
        if (/PASSWORD|TOKEN|SECRET|REDIS_URL|AUTH/i.test(e.name)) expect({ [e.name]: e.valueFrom?.secretKeyRef !== undefined && e.value === undefined }).toEqual({ [e.name]: true });
        expect(e.value ?? '').not.toMatch(/rediss?:\/\//);
      }
      for (const a of [...(c.command ?? []), ...(c.args ?? [])]) expect(a).not.toMatch(/rediss?:\/\/|^--redis(=|$)/);
    }
    for (const name of [COORDINATOR, WORKER]) {
      expect(env(podOf(objects, name).containers[0], 'REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'unroll-redis', key: 'url' });
    }
  });

  it('gives every Unroll process the same key prefix', () => {
    const prefixes = unrollContainers(objects).map(({ c }) => {
      const flag = flagValue(c.args ?? [], '--prefix');
      if (flag !== undefined) return flag;
      const e = env(c, 'UNROLL_PREFIX');
      const ref = e?.valueFrom?.configMapKeyRef;
      return ref ? named(objects, 'ConfigMap', ref.name).data?.[ref.key] : (e?.value ?? 'unroll');
    });
    expect(prefixes).toHaveLength(2);
    expect(new Set(prefixes).size).toBe(1);
    expect(prefixes[0]).toMatch(/^[a-z0-9-]+$/);
  });

  it("binds each worker's ring on its pod IP and on the port it declares and its gRPC probes check", () => {
    const w = container(objects, WORKER, 'worker');
    expect(flagValue(w.args ?? [], '--ring-host')).toBe('$(POD_IP)');
    expect(env(w, 'POD_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
    const port = Number(flagValue(w.args ?? [], '--ring-port'));
    expect(Number.isInteger(port) && port > 0).toBe(true);
    expect(w.ports?.find((p) => p.name === 'ring')?.containerPort).toBe(port);
    for (const probe of [w.startupProbe, w.readinessProbe, w.livenessProbe]) {
      expect(probe?.grpc?.port).toBe(port);
      // '' is the worker's own health (SERVING once it takes jobs, worker-main.ts); unroll.v1.Ring would fail on an idle worker.
      expect(probe?.grpc?.service ?? '').toBe('');
    }
  });

  it('sets CPU and memory requests and limits on every container', () => {
    for (const w of workloads(objects)) {
      for (const c of w.spec.template.spec.containers) {
        for (const kind of ['requests', 'limits'] as const) {
          expect({ [`${w.metadata.name}/${c.name} ${kind}`]: cores(c.resources?.[kind]?.cpu) > 0 && bytes(c.resources?.[kind]?.memory) > 0 }).toEqual({ [`${w.metadata.name}/${c.name} ${kind}`]: true });
        }
      }
    }
  });

  it('lets a worker take its BLAS threads from a whole-core CPU limit, with passive OpenMP threads', () => {
    const w = container(objects, WORKER, 'worker');
    const limit = cores(w.resources?.limits?.cpu);
    expect(Number.isInteger(limit) && limit >= 1).toBe(true);
    expect(cores(w.resources?.requests?.cpu)).toBe(limit);
    expect(env(w, 'UNROLL_BLAS_THREADS')).toBeUndefined();
    expect(flagValue(w.args ?? [], '--threads')).toBeUndefined();
    expect(env(w, 'OMP_WAIT_POLICY')?.value).toBe('PASSIVE');
  });

  it('runs every pod as non-root with a read-only root filesystem, no privilege escalation and its ServiceAccount', () => {
    for (const w of workloads(objects)) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
      expect(named(objects, 'ServiceAccount', pod.serviceAccountName as string)).toBeDefined();
      for (const c of pod.containers) {
        expect({ [c.name]: c.securityContext }).toMatchObject({ [c.name]: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } });
      }
    }
    // tsx caches its transforms under the temporary directory: it must be writable.
    for (const { pod, c } of unrollContainers(objects)) {
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(tmp?.readOnly ?? false).toBe(false);
      expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
    }
  });

  it('puts the checkpoints on the shared ReadWriteMany volume every worker mounts, and the data root on a volume', () => {
    const pod = podOf(objects, WORKER);
    const w = pod.containers[0];
    const mountOf = (dir: string | undefined) => w.volumeMounts?.find((m) => m.mountPath === dir);
    const checkpoints = mountOf(flagValue(w.args ?? [], '--checkpoint-dir'));
    expect(checkpoints?.readOnly ?? false).toBe(false);
    const claim = pod.volumes?.find((v) => v.name === checkpoints?.name)?.persistentVolumeClaim?.claimName;
    // Rank 0 writes them, and any worker may be rank 0.
    expect(named(objects, 'PersistentVolumeClaim', claim as string).spec?.accessModes).toContain('ReadWriteMany');
    expect(mountOf(flagValue(w.args ?? [], '--data-root'))).toBeDefined();
  });

  it(overlay === 'gpu' ? 'selects tensorflow-gpu with one nvidia.com/gpu per worker on GPU nodes, and the GPU image' : 'selects wasm with the native OpenBLAS kernel, no GPU, and the CPU image', () => {
    const pod = podOf(objects, WORKER);
    const w = pod.containers[0];
    const backends = stringArrayConst('apps/worker/src/worker-main.ts', 'BACKENDS');
    const backend = flagValue(w.args ?? [], '--backend') as string;
    expect(backends).toContain(backend);
    if (overlay === 'gpu') {
      expect(backend).toBe('tensorflow-gpu');
      expect(flagValue(w.args ?? [], '--kernel')).toBe('tfjs');
      expect(Number(w.resources?.limits?.['nvidia.com/gpu'])).toBeGreaterThanOrEqual(1);
      expect(Object.keys(pod.nodeSelector ?? {}).length).toBeGreaterThan(0);
      expect(pod.tolerations?.some((t) => t.key === 'nvidia.com/gpu')).toBe(true);
      // TensorFlow is loaded twice in a worker (event loop and compute thread): memory on demand, not all up front.
      expect(env(w, 'TF_FORCE_GPU_ALLOW_GROWTH')?.value).toBe('true');
      expect(w.image).toMatch(/:gpu$/);
    } else {
      expect(backend).toBe('wasm');
      expect(flagValue(w.args ?? [], '--kernel')).toBe('native');
      expect(w.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
      expect(w.image).toMatch(/:cpu$/);
    }
    // One image per overlay for every Unroll container.
    expect(new Set(unrollContainers(objects).map(({ c }) => c.image)).size).toBe(1);
  });
});

describe('deploy/docker', () => {
  const cpu = image('Dockerfile');
  const gpu = image('Dockerfile.gpu');
  const objects = (): K8sObject[] => kustomize('deploy/k8s/overlays/cpu');

  it('builds the native kernel on the OpenMP OpenBLAS and ships its runtime library', () => {
    expect(cpu).toMatch(/apt-get install[^\n]*libopenblas-openmp-dev/);
    expect(cpu).toMatch(/npm run build:native -w @unroll\/kernels-native/);
    expect(cpu).toMatch(/apt-get install[^\n]*libopenblas0-openmp/);
  });

  it('installs @tensorflow/tfjs-node-gpu in the GPU image only (package.json cannot have it)', () => {
    expect(gpu).toMatch(/npm install [^\n]*@tensorflow\/tfjs-node-gpu/);
    const pkg = readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8');
    expect(pkg).not.toContain('tfjs-node-gpu');
  });

  it('uses the WORKDIR and the numeric non-root USER the manifests assume', () => {
    const coordinator = podOf(objects(), COORDINATOR);
    for (const file of [cpu, gpu]) {
      const workdirs = [...file.matchAll(/^WORKDIR (\S+)/gm)].map((m) => m[1]);
      expect(workdirs.at(-1)).toBe(coordinator.containers[0].workingDir);
      const users = [...file.matchAll(/^USER (\d+)(?::\d+)?$/gm)].map((m) => Number(m[1]));
      expect(users.at(-1)).toBe(coordinator.securityContext?.runAsUser);
      expect(users.at(-1)).toBeGreaterThan(0);
    }
  });
});
