/**
 * Reads an XGBoost model saved as JSON (`Booster.save_model('m.json')`, `xgboost ... model_out=m.json`;
 * schema of XGBoost 1.x/2.x) into a TreeEnsemble.
 *
 * XGBoost's semantics, kept exactly: `x < split_condition` goes left, a missing value follows
 * `default_left`, leaves hold their value in `split_conditions`, tree i adds to class `tree_info[i]`,
 * DART trees are scaled by `weight_drop`. The global bias is `base_score` in output space: for the
 * logistic objectives the margin bias is logit(base_score); for softmax and regression it is added
 * to every margin as is.
 */
import { emptyTree, validateEnsemble, type Link, type Tree, type TreeEnsemble } from './ensemble.ts';

interface XgbTree {
  left_children: number[];
  right_children: number[];
  split_indices: number[];
  split_conditions: number[];
  default_left: (number | boolean)[];
  split_type?: number[];
  tree_param?: { num_nodes?: string };
}

const LOGISTIC = new Set(['binary:logistic', 'reg:logistic']);
const IDENTITY = new Set(['reg:squarederror', 'reg:linear', 'reg:absoluteerror', 'reg:pseudohubererror', 'binary:logitraw', 'reg:squaredlogerror']);

export function readXgboostJson(text: string, where = 'xgboost model'): TreeEnsemble {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${where}: not JSON (${(e as Error).message}); save the model with Booster.save_model("model.json")`);
  }
  const learner = field<Record<string, unknown>>(doc, 'learner', where);
  const params = field<Record<string, string>>(learner, 'learner_model_param', `${where}: learner`);
  const objective = field<{ name: string }>(learner, 'objective', `${where}: learner`).name;
  const booster = field<Record<string, unknown>>(learner, 'gradient_booster', `${where}: learner`);
  const boosterName = String(booster.name);
  let model: Record<string, unknown>;
  let weights: number[] | undefined;
  if (boosterName === 'gbtree') model = field(booster, 'model', `${where}: gradient_booster`);
  else if (boosterName === 'dart') {
    model = field(field<Record<string, unknown>>(booster, 'gbtree', `${where}: gradient_booster`), 'model', `${where}: gradient_booster.gbtree`);
    weights = field<number[]>(booster, 'weight_drop', `${where}: gradient_booster`);
  } else throw new Error(`${where}: booster "${boosterName}" is not a tree booster (gbtree or dart)`);

  const trees = field<XgbTree[]>(model, 'trees', `${where}: gradient_booster.model`);
  const treeInfo = field<number[]>(model, 'tree_info', `${where}: gradient_booster.model`);
  if (treeInfo.length !== trees.length) throw new Error(`${where}: ${trees.length} trees but ${treeInfo.length} tree_info entries`);
  const numClass = Number(params.num_class ?? 0);
  const nFeatures = Number(params.num_feature);
  if (!Number.isInteger(nFeatures) || nFeatures <= 0) throw new Error(`${where}: learner_model_param.num_feature is "${params.num_feature}"`);
  const numTarget = Number(params.num_target ?? 1);
  if (numTarget > 1) throw new Error(`${where}: multi-target models (num_target ${numTarget}) are not supported`);
  const baseScore = Number(params.base_score);
  if (!Number.isFinite(baseScore)) throw new Error(`${where}: base_score is "${params.base_score}"`);

  let link: Link;
  let nTargets: number;
  let base: number;
  if (objective === 'multi:softprob' || objective === 'multi:softmax') {
    if (numClass < 2) throw new Error(`${where}: objective ${objective} with num_class ${numClass}`);
    link = 'softmax';
    nTargets = numClass;
    base = baseScore;
  } else if (LOGISTIC.has(objective)) {
    if (!(baseScore > 0 && baseScore < 1)) throw new Error(`${where}: base_score ${baseScore} must be in (0, 1) for ${objective}`);
    link = 'sigmoid';
    nTargets = 1;
    base = Math.log(baseScore / (1 - baseScore));
  } else if (IDENTITY.has(objective)) {
    link = 'identity';
    nTargets = 1;
    base = baseScore;
  } else {
    throw new Error(`${where}: objective "${objective}" is not supported (multi:softprob, multi:softmax, binary:logistic, reg:logistic, binary:logitraw, reg:squarederror)`);
  }

  const out: Tree[] = trees.map((t, ti) => {
    const tw = `${where}: tree ${ti}`;
    const n = t.left_children.length;
    for (const k of ['right_children', 'split_indices', 'split_conditions', 'default_left'] as const) {
      if (!Array.isArray(t[k]) || t[k].length !== n) throw new Error(`${tw}: ${k} has ${Array.isArray(t[k]) ? t[k].length : 'no'} entries for ${n} nodes`);
    }
    const target = treeInfo[ti]!;
    const tree = emptyTree(n, nTargets === 1 ? 0 : target, weights ? weights[ti]! : 1);
    if (nTargets > 1 && (target < 0 || target >= nTargets)) throw new Error(`${tw}: tree_info says class ${target} of ${nTargets}`);
    for (let i = 0; i < n; i++) {
      const l = t.left_children[i]!;
      if (l === -1) {
        tree.value[i] = Math.fround(t.split_conditions[i]!);
        continue;
      }
      if (t.split_type && t.split_type[i] !== 0) throw new Error(`${tw} node ${i}: categorical splits are not supported`);
      tree.feature[i] = t.split_indices[i]!;
      // The JSON holds float32 values in their shortest decimal form: the threshold is the float32.
      tree.threshold[i] = Math.fround(t.split_conditions[i]!);
      tree.left[i] = l;
      tree.right[i] = t.right_children[i]!;
      tree.missingLeft[i] = t.default_left[i] ? 1 : 0;
    }
    return tree;
  });

  const names = learner.feature_names as string[] | undefined;
  const ens: TreeEnsemble = {
    source: 'xgboost',
    objective,
    cmp: 'LT',
    trees: out,
    nFeatures,
    featureNames: names && names.length ? names : undefined,
    nTargets,
    baseMargin: new Array<number>(nTargets).fill(base),
    link,
    sigmoidScale: 1,
    average: false,
  };
  validateEnsemble(ens, where);
  return ens;
}

function field<T>(o: Record<string, unknown>, key: string, where: string): T {
  const v = o[key];
  if (v === undefined || v === null) throw new Error(`${where}: missing "${key}" (is this an XGBoost JSON model?)`);
  return v as T;
}
