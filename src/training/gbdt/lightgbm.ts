/**
 * Reads a LightGBM model in its text format (`Booster.save_model('m.txt')`, `lightgbm task=train
 * output_model=m.txt`) into a TreeEnsemble.
 *
 * LightGBM's numerical decision, kept exactly (include/LightGBM/tree.h, NumericalDecision):
 * `decision_type` bit 1 is default_left, bits 2-3 the missing type (0 None, 1 Zero, 2 NaN).
 * NaN becomes 0 unless the missing type is NaN; a NaN (type NaN) or a zero (type Zero) goes to the
 * default side; otherwise `x <= threshold` goes left. Children < 0 are leaves (~child). Tree t adds
 * to class t % num_tree_per_iteration. Leaf values already include the shrinkage.
 *
 * Not representable as one ONNX tree and refused with the node named: categorical splits, linear
 * trees, and Zero-missing splits whose default side disagrees with where zero compares.
 */
import { emptyTree, validateEnsemble, type Link, type Tree, type TreeEnsemble } from './ensemble.ts';

/** LightGBM's kZeroThreshold: |x| <= 1e-35 counts as zero. */
const K_ZERO = 1e-35;

export function readLightgbmText(text: string, where = 'lightgbm model'): TreeEnsemble {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== 'tree') throw new Error(`${where}:1: expected "tree" (a LightGBM text model), got "${(lines[0] ?? '').slice(0, 40)}"`);
  const header = new Map<string, string>();
  let i = 1;
  for (; i < lines.length && !lines[i]!.startsWith('Tree='); i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq < 0) header.set(line, '');
    else header.set(line.slice(0, eq), line.slice(eq + 1));
    if (line === 'end of trees') break;
  }
  const need = (k: string): string => {
    const v = header.get(k);
    if (v === undefined) throw new Error(`${where}: header has no "${k}="`);
    return v;
  };
  const numClass = Number(need('num_class'));
  const perIter = Number(header.get('num_tree_per_iteration') ?? numClass);
  const nFeatures = Number(need('max_feature_idx')) + 1;
  const objectiveLine = need('objective');
  const [objective, ...objParams] = objectiveLine.split(/\s+/);
  const objParam = (name: string): number | undefined => {
    const p = objParams.find((s) => s.startsWith(`${name}:`));
    return p === undefined ? undefined : Number(p.slice(name.length + 1));
  };
  let link: Link;
  let sigmoidScale = 1;
  let nTargets = perIter;
  switch (objective) {
    case 'multiclass':
      link = 'softmax';
      break;
    case 'multiclassova':
    case 'binary':
      link = 'sigmoid';
      sigmoidScale = objParam('sigmoid') ?? 1;
      break;
    case 'cross_entropy':
    case 'xentropy':
      link = 'sigmoid';
      break;
    case 'regression': case 'regression_l2': case 'regression_l1': case 'huber': case 'fair': case 'quantile': case 'mape':
    case 'lambdarank': case 'rank_xendcg':
      link = 'identity';
      break;
    default:
      throw new Error(`${where}: objective "${objectiveLine}" is not supported (multiclass, multiclassova, binary, cross_entropy, regression and its robust variants)`);
  }
  if (link === 'softmax' && numClass < 2) throw new Error(`${where}: multiclass with num_class ${numClass}`);
  if (!(nTargets >= 1)) throw new Error(`${where}: num_tree_per_iteration is "${header.get('num_tree_per_iteration')}"`);
  const names = header.get('feature_names')?.split(' ').filter(Boolean);

  const trees: Tree[] = [];
  while (i < lines.length) {
    const line = lines[i]!.trim();
    if (line === 'end of trees') break;
    if (!line.startsWith('Tree=')) {
      i++;
      continue;
    }
    const index = Number(line.slice(5));
    const startLine = i + 1;
    const kv = new Map<string, string>();
    for (i++; i < lines.length && lines[i]!.trim() !== '' && !lines[i]!.startsWith('Tree=') && lines[i]!.trim() !== 'end of trees'; i++) {
      const l = lines[i]!;
      const eq = l.indexOf('=');
      if (eq > 0) kv.set(l.slice(0, eq), l.slice(eq + 1));
    }
    trees.push(readTree(kv, index % nTargets, `${where}: Tree=${index} (line ${startLine})`));
  }
  if (trees.length === 0) throw new Error(`${where}: no "Tree=" sections`);

  const ens: TreeEnsemble = {
    source: 'lightgbm',
    objective: objectiveLine,
    cmp: 'LEQ',
    trees,
    nFeatures,
    featureNames: names,
    nTargets,
    baseMargin: new Array<number>(nTargets).fill(0),
    link,
    sigmoidScale,
    average: header.has('average_output'),
  };
  validateEnsemble(ens, where);
  return ens;
}

function readTree(kv: Map<string, string>, target: number, where: string): Tree {
  const nums = (k: string, expect: number): number[] => {
    const v = kv.get(k);
    if (v === undefined) throw new Error(`${where}: no "${k}="`);
    const a = v.trim() === '' ? [] : v.trim().split(/\s+/).map(Number);
    if (a.length !== expect) throw new Error(`${where}: ${k} has ${a.length} values, expected ${expect}`);
    if (a.some((x) => !Number.isFinite(x))) throw new Error(`${where}: ${k} has a value that is not a finite number`);
    return a;
  };
  const numLeaves = Number(kv.get('num_leaves'));
  if (!Number.isInteger(numLeaves) || numLeaves < 1) throw new Error(`${where}: num_leaves is "${kv.get('num_leaves')}"`);
  if (kv.get('is_linear') === '1') throw new Error(`${where}: linear trees (linear_tree=true) are not supported`);
  const leafValue = nums('leaf_value', numLeaves);
  const nInternal = numLeaves - 1;
  const tree = emptyTree(nInternal + numLeaves, target);
  if (nInternal === 0) {
    tree.value[0] = leafValue[0]!;
    return tree;
  }
  const feature = nums('split_feature', nInternal);
  const threshold = nums('threshold', nInternal);
  const decision = nums('decision_type', nInternal);
  const left = nums('left_child', nInternal);
  const right = nums('right_child', nInternal);
  // Internal node i keeps id i; leaf k gets id nInternal + k.
  const id = (child: number): number => (child < 0 ? nInternal + ~child : child);
  for (let n = 0; n < nInternal; n++) {
    const dt = decision[n]!;
    if (dt & 1) throw new Error(`${where}: node ${n} is a categorical split, which is not supported`);
    const defaultLeft = (dt & 2) !== 0;
    const missingType = (dt >> 2) & 3;
    const t = threshold[n]!;
    let missingLeft: boolean;
    if (missingType === 2) missingLeft = defaultLeft; // NaN: default side
    else if (missingType === 0) missingLeft = 0 <= t; // None: NaN is compared as 0
    else {
      // Zero: NaN and |x| <= 1e-35 go to the default side. Representable only when that is also
      // where the comparison sends every value of the zero band.
      const zeroGoesLeft = K_ZERO <= t ? true : -K_ZERO > t ? false : undefined;
      if (zeroGoesLeft !== defaultLeft) {
        throw new Error(`${where}: node ${n} treats zero as missing (zero_as_missing=true) with the default side ${defaultLeft ? 'left' : 'right'} and threshold ${t}; not representable in an ONNX tree (train with zero_as_missing=false)`);
      }
      missingLeft = defaultLeft;
    }
    tree.feature[n] = feature[n]!;
    tree.threshold[n] = t;
    tree.left[n] = id(left[n]!);
    tree.right[n] = id(right[n]!);
    tree.missingLeft[n] = missingLeft ? 1 : 0;
  }
  for (let k = 0; k < numLeaves; k++) tree.value[nInternal + k] = leafValue[k]!;
  return tree;
}
