/** The analytics' public surface: the engine, its wiring, its outputs (docs/analytics.md); the batch run is src/pipeline/analytics.ts. */
export { AnalyticsEngine, type AnalyticsOutputs, type AnalyticsStats, type BookView, type SpecMeasureSource, type DetectionHook } from './engine.ts';
export { analyticsTap, teeRows } from './tap.ts';
export { DETECTORS, type DetectorFactory } from './detectors/registry.ts';
export type { Detector } from './detectors/detector.ts';
export type { DetectorContext } from './detectors/context.ts';
export { ALERT_KINDS, SEVERITIES, alertToJson, alertToJsonLine, parseAlertJson, AlertCounts, type Alert, type AlertJson, type AlertKind, type AlertSink, type Severity, type Evidence } from './alerts.ts';
export { MEASURE_COLUMNS, measuresToJson, type MeasuresSink, type MeasuresJson, type MeasureColumn } from './measures/columns.ts';
export { analyticsOptions, applyParams, DEFAULT_ANALYTICS_OPTIONS, type AnalyticsOptions } from './options.ts';
export { renderPrometheus, type MetricSample } from './metrics.ts';
export { LatencyMonitor, type LatencyStats } from './latency.ts';
export { Injector, type Segment, type InjectedSegment } from './inject.ts';
export { AlertWriter, MeasuresCsvWriter, MeasureSummary, summaryTables } from './output.ts';
