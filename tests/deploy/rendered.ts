/**
 * What tests/deploy reads: the objects `kubectl kustomize` renders from deploy/k8s
 * (offline; no cluster), and the command-line flags each Unroll process really
 * accepts, taken from the `parseArgs({ options: { … } })` table in its main file —
 * found through the container's command (node apps/<app>/bin/<bin>.js, whose
 * `require('../src/<main>.ts')` names the main file), so renaming a flag, a bin or a
 * main file makes the manifests fail here.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '../..');

export const KUBECTL_MISSING =
  'tests/deploy renders deploy/k8s with `kubectl kustomize` (offline, no cluster needed), and kubectl is not on PATH: ' +
  'install it (Debian: `apt-get install kubectl`; .ci/run does)';

/** The fields of Kubernetes objects these tests read; everything else passes through untyped. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}
export interface Probe {
  grpc?: { port: number; service?: string };
  exec?: { command: string[] };
  tcpSocket?: { port: number | string };
}
export interface Container {
  name: string;
  image: string;
  workingDir?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
}
export interface Volume {
  name: string;
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: object;
  secret?: object;
}
export interface PodSpec {
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  nodeSelector?: Record<string, string>;
  tolerations?: Array<{ key?: string; operator?: string; effect?: string }>;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } | Record<string, string>;
    template?: { metadata: { labels?: Record<string, string> }; spec: PodSpec };
    accessModes?: string[];
    ports?: Array<{ port: number; targetPort?: number | string }>;
  };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** `kubectl kustomize <dir>`, parsed. Throws KUBECTL_MISSING when kubectl is not installed. */
export function kustomize(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', path.join(REPO_ROOT, dir)], { encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(KUBECTL_MISSING);
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed (exit ${r.status}):\n${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
}

export function workloads(objects: K8sObject[]): Array<K8sObject & { spec: { template: { spec: PodSpec } } }> {
  return objects.filter((o): o is K8sObject & { spec: { template: { spec: PodSpec } } } => o.spec?.template?.spec !== undefined);
}

export function named(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among the rendered objects (${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')})`);
  return o;
}

export function podOf(objects: K8sObject[], name: string): PodSpec {
  const spec = named(objects, 'Deployment', name).spec?.template?.spec;
  if (!spec) throw new Error(`Deployment ${name} has no pod template`);
  return spec;
}

/** `--flag=value` or `--flag value` in `args`; undefined when absent. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

/** CPU quantity in cores: "2" → 2, "1500m" → 1.5. */
export function cores(q: string | number | undefined): number {
  if (q === undefined) return NaN;
  const s = String(q);
  return s.endsWith('m') ? Number(s.slice(0, -1)) / 1000 : Number(s);
}

/** Memory quantity in bytes: "3Gi", "768mb" (redis.conf), "512Mi". */
export function bytes(q: string | number | undefined): number {
  if (q === undefined) return NaN;
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(String(q));
  if (!m) return NaN;
  const unit: Record<string, number> = { '': 1, k: 1e3, kb: 1024, ki: 1024, m: 1e6, mb: 1024 ** 2, mi: 1024 ** 2, g: 1e9, gb: 1024 ** 3, gi: 1024 ** 3 };
  const u = unit[m[2].toLowerCase()];
  return u === undefined ? NaN : Number(m[1]) * u;
}

export type OptionTable = Record<string, { type: 'string' | 'boolean' }>;

/** The main file a bin script runs: its `require('../src/<main>.ts')`. */
export function mainOfBin(bin: string): string {
  const source = readFileSync(path.join(REPO_ROOT, bin), 'utf8');
  const m = /require\('(\.\.?\/src\/[^']+\.ts)'\)/.exec(source);
  if (!m) throw new Error(`${bin} requires no ../src/*.ts main file`);
  return path.join(path.dirname(bin), m[1]);
}

function parseArgsCall(file: string): ts.ObjectLiteralExpression {
  const sf = ts.createSourceFile(file, readFileSync(path.join(REPO_ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, true);
  let options: ts.ObjectLiteralExpression | undefined;
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.getText(sf) === 'parseArgs' && node.arguments[0] && ts.isObjectLiteralExpression(node.arguments[0])) {
      for (const p of node.arguments[0].properties) {
        if (ts.isPropertyAssignment(p) && p.name.getText(sf) === 'options' && ts.isObjectLiteralExpression(p.initializer)) options = p.initializer;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (!options) throw new Error(`${file}: no parseArgs({ options: { … } }) call found`);
  return options;
}

/** The option table of the parseArgs call in `file` (a main file): flag name → type. */
export function optionTable(file: string): OptionTable {
  const table: OptionTable = {};
  for (const p of parseArgsCall(file).properties) {
    if (!ts.isPropertyAssignment(p) || !ts.isObjectLiteralExpression(p.initializer)) throw new Error(`${file}: parseArgs option ${p.getText()} is not a literal { type: … }`);
    const name = ts.isStringLiteral(p.name) || ts.isIdentifier(p.name) ? p.name.text : p.name.getText();
    const type = p.initializer.properties.find((q): q is ts.PropertyAssignment => ts.isPropertyAssignment(q) && q.name.getText() === 'type');
    const value = type && ts.isStringLiteral(type.initializer) ? type.initializer.text : undefined;
    if (value !== 'string' && value !== 'boolean') throw new Error(`${file}: parseArgs option ${name} has no literal type`);
    table[name] = { type: value };
  }
  return table;
}

/** The string elements of the array literal `const <name> … = [ … ]` in `file`. */
export function stringArrayConst(file: string, name: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(path.join(REPO_ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, true);
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    for (const d of st.declarationList.declarations) {
      if (d.name.getText(sf) === name && d.initializer && ts.isArrayLiteralExpression(d.initializer)) {
        return d.initializer.elements.filter(ts.isStringLiteral).map((e) => e.text);
      }
    }
  }
  throw new Error(`${file}: no array constant ${name}`);
}
