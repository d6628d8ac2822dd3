/**
 * The calibration section of `flowcast evaluate` for one data set: Brier score of every system with
 * a paired block-bootstrap interval of its difference from the class frequencies of the training
 * split (the "majority class" baseline's probabilities: the best constant forecast a model could
 * have learnt without reading any input), log loss and ECE; per model the reliability diagrams and,
 * where a temperature was fitted on its validation split, the same measures after scaling with
 * paired intervals of the change.
 *
 * The bootstrap is the evaluation's own (same block, replicates, level and seed, so the same
 * resampled rows as the report's other intervals); per-row Brier and log-loss terms are computed once.
 */
import { blockBootstrap, type BootstrapOptions, type Interval } from './evaluate/bootstrap.ts';
import { applyTemperature, classwiseEce, confidenceBins, expectedCalibrationError, PROB_FLOOR, reliability, sampleBrier, weightedMean, type ReliabilityBin } from './calibration.ts';

export interface SystemCalibration {
  name: string;
  kind: 'model' | 'baseline';
  brier: Interval;
  /** This system's Brier minus the class frequencies' (negative: better), paired; absent for the frequencies themselves. */
  brierVsFrequencies?: Interval;
  logLoss: number;
  /** Top-label ECE (Guo et al. 2017). */
  ece: number;
  classwiseEce: number;
}

export interface TemperatureResult {
  T: number;
  /** Where T was fitted: the model's validation split, by rows. */
  fittedOn: string;
  validation: { samples: number; nllBefore: number; nllAfter: number };
  /** On this data set after scaling. */
  logLoss: number;
  brier: number;
  ece: number;
  classwiseEce: number;
  /** After minus before, paired (negative: scaling helped). */
  dLogLoss: Interval;
  dBrier: Interval;
  reliability: ReliabilityBin[][];
}

export interface ModelCalibration {
  name: string;
  /** One-vs-rest reliability bins per class. */
  reliability: ReliabilityBin[][];
  /** Top-label (confidence) bins, from which the ECE comes. */
  confidence: ReliabilityBin[];
  temperature?: TemperatureResult;
}

export interface SetCalibration {
  bins: number;
  /** The system whose Brier the others are compared with. */
  reference: string;
  systems: SystemCalibration[];
  models: ModelCalibration[];
}

export interface CalibrationInput {
  y: ArrayLike<number>;
  n: number;
  C: number;
  systems: { name: string; kind: 'model' | 'baseline'; p: ArrayLike<number> }[];
  /** Name of the class-frequency system (the reference for the paired Brier differences). */
  reference: string;
  /** Per model name: a temperature fitted elsewhere (validation), to be applied here. */
  temperatures?: Map<string, { T: number; fittedOn: string; samples: number; nllBefore: number; nllAfter: number }>;
  bins?: number;
  bootstrap: BootstrapOptions;
}

function rowLoss(y: ArrayLike<number>, p: ArrayLike<number>, n: number, C: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = -Math.log(Math.max(p[i * C + y[i]!]!, PROB_FLOOR));
  return out;
}

export function calibrateSet(o: CalibrationInput): SetCalibration {
  const { y, n, C } = o;
  const bins = o.bins ?? 10;
  const ref = o.systems.findIndex((s) => s.name === o.reference);
  if (ref < 0) throw new Error(`calibration: no system named "${o.reference}" to compare Brier scores with (systems: ${o.systems.map((s) => s.name).join(', ')})`);
  const brier = o.systems.map((s) => sampleBrier(y, s.p, n, C));
  const models = o.systems.filter((s) => s.kind === 'model');
  const scaled = models.map((m) => {
    const t = o.temperatures?.get(m.name);
    if (!t) return undefined;
    const p = applyTemperature(m.p, n, C, t.T);
    return { t, p, brier: sampleBrier(y, p, n, C), loss: rowLoss(y, p, n, C), brier0: sampleBrier(y, m.p, n, C), loss0: rowLoss(y, m.p, n, C) };
  });
  // One bootstrap for every interval here: per system Brier and Brier - reference; per scaled model
  // the change in log loss and in Brier.
  const stat = (w: Float64Array): number[] => {
    const b = brier.map((t) => weightedMean(t, w));
    const out: number[] = [];
    for (let s = 0; s < b.length; s++) out.push(b[s]!, b[s]! - b[ref]!);
    for (const x of scaled) {
      if (!x) continue;
      out.push(weightedMean(x.loss, w) - weightedMean(x.loss0, w), weightedMean(x.brier, w) - weightedMean(x.brier0, w));
    }
    return out;
  };
  const ci = blockBootstrap(n, stat, o.bootstrap);
  const systems: SystemCalibration[] = o.systems.map((s, i) => ({
    name: s.name,
    kind: s.kind,
    brier: ci[2 * i]!,
    ...(i === ref ? {} : { brierVsFrequencies: ci[2 * i + 1]! }),
    logLoss: weightedMean(rowLoss(y, s.p, n, C)),
    ece: expectedCalibrationError(y, s.p, n, C, bins),
    classwiseEce: classwiseEce(y, s.p, n, C, bins),
  }));
  let at = 2 * o.systems.length;
  const perModel: ModelCalibration[] = models.map((m, k) => {
    const out: ModelCalibration = {
      name: m.name,
      reliability: Array.from({ length: C }, (_, c) => reliability(y, m.p, n, C, c, bins)),
      confidence: confidenceBins(y, m.p, n, C, bins),
    };
    const x = scaled[k];
    if (x) {
      out.temperature = {
        T: x.t.T,
        fittedOn: x.t.fittedOn,
        validation: { samples: x.t.samples, nllBefore: x.t.nllBefore, nllAfter: x.t.nllAfter },
        logLoss: weightedMean(x.loss),
        brier: weightedMean(x.brier),
        ece: expectedCalibrationError(y, x.p, n, C, bins),
        classwiseEce: classwiseEce(y, x.p, n, C, bins),
        dLogLoss: ci[at]!,
        dBrier: ci[at + 1]!,
        reliability: Array.from({ length: C }, (_, c) => reliability(y, x.p, n, C, c, bins)),
      };
      at += 2;
    }
    return out;
  });
  return { bins, reference: o.reference, systems, models: perModel };
}
